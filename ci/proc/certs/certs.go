// Package certs issues the certificates of a local control plane and of the
// webhooks it calls: one self-signed CA and the certificates it signs.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Pair is a PEM encoded certificate and its key.
type Pair struct {
	CertPEM, KeyPEM []byte
}

// CA is a self-signed certificate authority, valid for ten years.
type CA struct {
	Pair // the CA's own certificate and key

	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA named cn.
func NewCA(cn string) (*CA, error) {
	key, der, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, 10*365*24*time.Hour, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pair, err := encode(der, key)
	if err != nil {
		return nil, err
	}
	return &CA{Pair: pair, cert: cert, key: key}, nil
}

// Sign issues a certificate from tmpl (subject, extended usages, SANs) with a
// new key, valid for a year.
func (ca *CA) Sign(tmpl *x509.Certificate) (Pair, error) {
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	tmpl.BasicConstraintsValid = true
	key, der, err := issue(tmpl, 365*24*time.Hour, ca.cert, ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("sign %s: %w", tmpl.Subject.CommonName, err)
	}
	return encode(der, key)
}

// issue makes a key and the certificate of tmpl for it, signed by parent (or
// by itself when parent is nil), valid from an hour ago for lifetime.
func issue(tmpl *x509.Certificate, lifetime time.Duration, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(lifetime)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	return key, der, err
}

func encode(der []byte, key *ecdsa.PrivateKey) (Pair, error) {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}
