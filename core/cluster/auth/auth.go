// Package auth is the cluster's security: the token every process of a
// goray cluster presents on every call (authorization: Bearer <token>),
// the gRPC server options that refuse a call without it
// (codes.Unauthenticated) or with a wrong one (codes.PermissionDenied),
// the matching HTTP middleware (401, 403), and optional TLS and mutual TLS.
//
// The head creates the token (NewToken) and writes it with mode 0600 in
// its session directory (WriteToken); nodes and drivers read it from
// GORAY_AUTH_TOKEN or from there (ReadToken).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// EnvToken names the environment variable that carries the token.
const EnvToken = "GORAY_AUTH_TOKEN"

// TokenFile is the token's file name in a session directory.
const TokenFile = "auth_token"

// ErrNoToken: no token could be found for a process that must present one.
var ErrNoToken = errors.New("no cluster auth token")

// NewToken returns a fresh random token (256 bits, hex).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// WriteToken writes token to dir/auth_token with mode 0600.
func WriteToken(dir, token string) error {
	p := filepath.Join(dir, TokenFile)
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("write auth token: %w", err)
	}
	// WriteFile keeps the mode of a file that exists.
	return os.Chmod(p, 0o600)
}

// ReadToken returns the token from GORAY_AUTH_TOKEN, else from
// dir/auth_token.
func ReadToken(dir string) (string, error) {
	if t := strings.TrimSpace(os.Getenv(EnvToken)); t != "" {
		return t, nil
	}
	if dir == "" {
		return "", fmt.Errorf("%w: set %s", ErrNoToken, EnvToken)
	}
	b, err := os.ReadFile(filepath.Join(dir, TokenFile))
	if err != nil {
		return "", fmt.Errorf("%w: set %s or start the head on this machine (%v)", ErrNoToken, EnvToken, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrNoToken, filepath.Join(dir, TokenFile))
	}
	return t, nil
}

// TLS is the optional transport security of a process: its certificate
// and key, and the CA that signs its peers (mutual TLS when set on both
// sides).
type TLS struct {
	Cert, Key, CA string
}

// Enabled reports whether any TLS file is set.
func (t TLS) Enabled() bool { return t.Cert != "" || t.Key != "" || t.CA != "" }

// Validate names the missing half of a certificate pair.
func (t TLS) Validate() error {
	if (t.Cert == "") != (t.Key == "") {
		return fmt.Errorf("tls: --tls-cert and --tls-key go together (cert %q, key %q)", t.Cert, t.Key)
	}
	return nil
}

func (t TLS) pool() (*x509.CertPool, error) {
	if t.CA == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(t.CA)
	if err != nil {
		return nil, fmt.Errorf("tls: --tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: --tls-ca %s holds no PEM certificate", t.CA)
	}
	return pool, nil
}

// ServerConfig is the server side of t: with a CA, clients must present
// a certificate it signed.
func (t TLS) ServerConfig() (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if t.Cert == "" {
		return nil, fmt.Errorf("tls: a server needs --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	pool, err := t.pool()
	if err != nil {
		return nil, err
	}
	if pool != nil {
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientConfig is the client side of t.
func (t TLS) ClientConfig() (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	pool, err := t.pool()
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = pool
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// check compares the bearer token of md with token: nil, or the status
// error a refused call gets.
func check(md metadata.MD, token string) error {
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, "missing authorization: Bearer <cluster token> (GORAY_AUTH_TOKEN)")
	}
	got, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return status.Error(codes.Unauthenticated, "authorization is not a Bearer token")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		return status.Error(codes.PermissionDenied, "wrong cluster token")
	}
	return nil
}

// ServerOptions are the options of every gRPC server of the cluster:
// each call must carry token; with t enabled, the transport is TLS.
func ServerOptions(token string, t TLS) ([]grpc.ServerOption, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: a cluster server needs one", ErrNoToken)
	}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			md, _ := metadata.FromIncomingContext(ctx)
			if err := check(md, token); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			md, _ := metadata.FromIncomingContext(ss.Context())
			if err := check(md, token); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
	if t.Enabled() {
		cfg, err := t.ServerConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	return opts, nil
}

// bearer sends the token with every call.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }

// DialOptions are the options of every gRPC client of the cluster: each
// call carries token; with t enabled, over TLS.
func DialOptions(token string, t TLS) ([]grpc.DialOption, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: set %s", ErrNoToken, EnvToken)
	}
	opts := []grpc.DialOption{grpc.WithPerRPCCredentials(bearer{token: token, secure: t.Enabled()})}
	if t.Enabled() {
		cfg, err := t.ClientConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	return opts, nil
}

// HTTP wraps h so that every request must carry token: 401 without one,
// 403 with a wrong one.
func HTTP(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := check(metadata.MD{"authorization": r.Header.Values("Authorization")}, token)
		if err != nil {
			code := http.StatusUnauthorized
			if status.Code(err) == codes.PermissionDenied {
				code = http.StatusForbidden
			}
			http.Error(w, status.Convert(err).Message(), code)
			return
		}
		h.ServeHTTP(w, r)
	})
}
