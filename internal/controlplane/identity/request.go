package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// ParsedRequest is a CertifyRequest whose CSR was decoded and verified.
type ParsedRequest struct {
	CSR   *x509.CertificateRequest
	Token string
}

// errBadRequest wraps every reason a request is malformed (HTTP 400).
var errBadRequest = errors.New("bad certify request")

// ParseCertifyRequest decodes a JSON CertifyRequest, checks that the CSR is
// self-signed correctly and holds an ECDSA P-256 key, and that a token is
// present. It never looks at the token's content.
func ParseCertifyRequest(body []byte) (*ParsedRequest, error) {
	var req contract.CertifyRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%w: json: %v", errBadRequest, err)
	}
	if req.Token == "" {
		return nil, fmt.Errorf("%w: token is empty", errBadRequest)
	}
	block, rest := pem.Decode([]byte(req.CSR))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: csr is not a PEM CERTIFICATE REQUEST", errBadRequest)
	}
	if len(rest) > 0 {
		if next, _ := pem.Decode(rest); next != nil {
			return nil, fmt.Errorf("%w: csr holds more than one PEM block", errBadRequest)
		}
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: csr: %v", errBadRequest, err)
	}
	key, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: csr key must be ECDSA P-256", errBadRequest)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: csr signature: %v", errBadRequest, err)
	}
	return &ParsedRequest{CSR: csr, Token: req.Token}, nil
}
