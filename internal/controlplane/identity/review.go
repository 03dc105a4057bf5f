package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// TokenReview is what the authenticator said about a token.
type TokenReview struct {
	Authenticated bool
	Username      string
	// Audiences are those the authenticator confirmed for the token.
	Audiences []string
}

// TokenReviewer authenticates a bearer token for the identity audience.
// An error means the review could not be made (not that the token is bad).
type TokenReviewer interface {
	Review(ctx context.Context, token string) (TokenReview, error)
}

// KubeTokenReviewer asks the Kubernetes API through a TokenReview.
type KubeTokenReviewer struct {
	Client kubernetes.Interface
}

// Review creates a TokenReview for contract.IdentityTokenAudience.
func (k KubeTokenReviewer) Review(ctx context.Context, token string) (TokenReview, error) {
	review, err := k.Client.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{contract.IdentityTokenAudience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return TokenReview{}, fmt.Errorf("token review: %w", err)
	}
	return TokenReview{
		Authenticated: review.Status.Authenticated,
		Username:      review.Status.User.Username,
		Audiences:     review.Status.Audiences,
	}, nil
}

var (
	// errUnauthenticated: the token is not valid for our audience (HTTP 401).
	errUnauthenticated = errors.New("token not authenticated for the identity audience")
	// errForbidden: the token is valid but not a ServiceAccount's (HTTP 403).
	errForbidden = errors.New("token does not belong to a service account")
)

const serviceAccountUserPrefix = "system:serviceaccount:"

// WorkloadFromReview turns a review into the workload's namespace and
// ServiceAccount. It insists the authenticator confirmed our audience, since
// an audience-unaware authenticator would accept tokens minted for others.
func WorkloadFromReview(review TokenReview) (namespace, serviceAccount string, err error) {
	if !review.Authenticated || !slices.Contains(review.Audiences, contract.IdentityTokenAudience) {
		return "", "", errUnauthenticated
	}
	rest, ok := strings.CutPrefix(review.Username, serviceAccountUserPrefix)
	if !ok {
		return "", "", errForbidden
	}
	namespace, serviceAccount, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || serviceAccount == "" || strings.Contains(serviceAccount, ":") {
		return "", "", errForbidden
	}
	return namespace, serviceAccount, nil
}
