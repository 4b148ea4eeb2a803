package main

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/clearml-runai/proc/certs"
)

const webhookName = "kai-admission"

// webhookCerts writes a CA and a serving certificate for 127.0.0.1 where the
// admission component's webhook server looks for them
// (<TMPDIR>/k8s-webhook-server/serving-certs) and returns the CA in PEM.
func webhookCerts(tmpDir string) ([]byte, error) {
	certDir := filepath.Join(tmpDir, "k8s-webhook-server", "serving-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	ca, err := certs.NewCA("kai-admission-ca")
	if err != nil {
		return nil, err
	}
	serving, err := ca.Sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kai-admission"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	})
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{"tls.crt": serving.CertPEM, "tls.key": serving.KeyPEM} {
		if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return ca.CertPEM, nil
}

// registerWebhooks points the API server at the admission component, as KAI's
// operator does in a cluster, for the pods of this scheduler only.
func registerWebhooks(ctx context.Context, cs kubernetes.Interface, port int, caPEM []byte, schedulerName string) error {
	clientConfig := func(path string) admissionv1.WebhookClientConfig {
		return admissionv1.WebhookClientConfig{URL: ptrTo(fmt.Sprintf("https://127.0.0.1:%d%s", port, path)), CABundle: caPEM}
	}
	// Only the pods of this scheduler, as the component itself checks: the
	// others never wait on it.
	match := []admissionv1.MatchCondition{{
		Name:       "scheduler-name",
		Expression: fmt.Sprintf("object.spec.schedulerName == %q", schedulerName),
	}}
	notSystem := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system"},
	}}}
	podRule := func(ops ...admissionv1.OperationType) []admissionv1.RuleWithOperations {
		return []admissionv1.RuleWithOperations{{
			Operations: ops,
			Rule: admissionv1.Rule{
				APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				Scope: ptrTo(admissionv1.NamespacedScope),
			},
		}}
	}
	mutating := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: webhookName},
		Webhooks: []admissionv1.MutatingWebhook{{
			Name:                    "pods.admission.run.ai",
			ClientConfig:            clientConfig("/mutate--v1-pod"),
			Rules:                   podRule(admissionv1.Create),
			NamespaceSelector:       notSystem,
			MatchConditions:         match,
			FailurePolicy:           ptrTo(admissionv1.Fail),
			SideEffects:             ptrTo(admissionv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptrTo(admissionv1.IfNeededReinvocationPolicy),
			TimeoutSeconds:          ptrTo(int32(10)),
		}},
	}
	validating := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: webhookName},
		Webhooks: []admissionv1.ValidatingWebhook{{
			Name:                    "pods.admission.run.ai",
			ClientConfig:            clientConfig("/validate--v1-pod"),
			Rules:                   podRule(admissionv1.Create, admissionv1.Update),
			NamespaceSelector:       notSystem,
			MatchConditions:         match,
			FailurePolicy:           ptrTo(admissionv1.Fail),
			SideEffects:             ptrTo(admissionv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptrTo(int32(10)),
		}},
	}
	api := cs.AdmissionregistrationV1()
	if err := api.MutatingWebhookConfigurations().Delete(ctx, webhookName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := api.ValidatingWebhookConfigurations().Delete(ctx, webhookName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if _, err := api.MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
		return err
	}
	_, err := api.ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{FieldManager: fieldManager})
	return err
}

// unregisterWebhooks removes them again, so that pods can be created while KAI
// is not running.
func unregisterWebhooks(ctx context.Context, cs kubernetes.Interface) {
	api := cs.AdmissionregistrationV1()
	_ = api.MutatingWebhookConfigurations().Delete(ctx, webhookName, metav1.DeleteOptions{})
	_ = api.ValidatingWebhookConfigurations().Delete(ctx, webhookName, metav1.DeleteOptions{})
}
