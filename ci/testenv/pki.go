package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"

	"github.com/clearml-runai/proc/certs"
)

// pki holds the file names of the generated certificates and keys.
type pki struct {
	CACert, CAKey           string
	ServingCert, ServingKey string
	SAPub, SAKey            string

	ca *certs.CA
}

// generatePKI creates a self-signed CA, the apiserver serving certificate
// and the service-account signing key pair in dir.
func generatePKI(dir string, serviceIP net.IP) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{
		CACert:      filepath.Join(dir, "ca.crt"),
		CAKey:       filepath.Join(dir, "ca.key"),
		ServingCert: filepath.Join(dir, "apiserver.crt"),
		ServingKey:  filepath.Join(dir, "apiserver.key"),
		SAPub:       filepath.Join(dir, "sa.pub"),
		SAKey:       filepath.Join(dir, "sa.key"),
	}
	var err error
	if p.ca, err = certs.NewCA("testenv-ca"); err != nil {
		return nil, err
	}
	serving, err := p.ca.Sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local",
		},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), serviceIP},
	})
	if err != nil {
		return nil, err
	}

	// service-account token signing key pair
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		p.CACert:      p.ca.CertPEM,
		p.CAKey:       p.ca.KeyPEM,
		p.ServingCert: serving.CertPEM,
		p.ServingKey:  serving.KeyPEM,
		p.SAKey:       pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}),
		p.SAPub:       pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// clientCert issues a client certificate for user cn in the given groups.
func (p *pki) clientCert(cn string, groups ...string) (certs.Pair, error) {
	return p.ca.Sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}
