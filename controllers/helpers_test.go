package controllers

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1 "github.com/meshkeeper/meshkeeper/api/v1alpha1"
	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/internal/operator/release"
	"github.com/meshkeeper/meshkeeper/internal/testsupport"
)

const waitFor = 60 * time.Second

func newInstallation(name, namespace string) *meshv1.MeshInstallation {
	return &meshv1.MeshInstallation{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: meshv1.MeshInstallationSpec{
			Version:      "0.1.0",
			ControlPlane: meshv1.ControlPlaneSpec{Namespace: namespace},
		},
	}
}

// createInstallation creates an installation and, when the test ends, deletes
// it and waits until it is gone: the cluster has one mesh owner at a time, so
// a test's installation must not outlive it.
func createInstallation(t *testing.T, mi *meshv1.MeshInstallation) error {
	t.Helper()
	if err := k8s.Create(context.Background(), mi); err != nil {
		return err
	}
	t.Cleanup(func() { deleteInstallation(t, mi.Name) })
	return nil
}

// deleteInstallation deletes an installation and waits for its finalizer.
func deleteInstallation(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	err := k8s.Delete(ctx, &meshv1.MeshInstallation{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	eventually(t, "installation "+name+" gone", func() error {
		err := k8s.Get(ctx, client.ObjectKey{Name: name}, &meshv1.MeshInstallation{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still present: %v", err)
	})
}

// kstatusIs checks the verdict of cli-utils' kstatus (what Flux, kpt and
// Argo CD show) on the installation as the API server serves it.
func kstatusIs(name string, want kstatus.Status) func() error {
	return func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(meshv1.GroupVersion.WithKind("MeshInstallation"))
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, u); err != nil {
			return err
		}
		res, err := kstatus.Compute(u)
		if err != nil {
			return err
		}
		if res.Status != want {
			return fmt.Errorf("kstatus %s (%s), want %s", res.Status, res.Message, want)
		}
		return nil
	}
}

// eventually polls check until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	testsupport.Eventually(t, what, waitFor, check)
}

func getInstallation(t *testing.T, name string) *meshv1.MeshInstallation {
	t.Helper()
	mi := &meshv1.MeshInstallation{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, mi); err != nil {
		t.Fatal(err)
	}
	return mi
}

func conditionIs(name, condType string, status metav1.ConditionStatus, reason string) func() error {
	return func() error {
		mi := &meshv1.MeshInstallation{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, mi); err != nil {
			return err
		}
		c := meta.FindStatusCondition(mi.Status.Conditions, condType)
		if c == nil {
			return fmt.Errorf("no %s condition yet", condType)
		}
		if c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("%s is %s/%s: %s", condType, c.Status, c.Reason, c.Message)
		}
		return nil
	}
}

// markDeploymentsAvailable plays the part of the Deployment controller, which
// envtest does not run: every rendered Deployment reports all replicas available.
func markDeploymentsAvailable(t *testing.T, namespace string) {
	t.Helper()
	eventually(t, "mark control-plane Deployments available", func() error { return markAvailable(namespace) })
}

// markDeploymentsAvailableOnce marks what is rendered now, ignoring conflicts
// (the next poll retries).
func markDeploymentsAvailableOnce(t *testing.T, namespace string) {
	t.Helper()
	_ = markAvailable(namespace)
}

func markAvailable(namespace string) error {
	{
		var deps appsv1.DeploymentList
		if err := k8s.List(context.Background(), &deps, client.InNamespace(namespace), client.HasLabels{contract.InstallationLabel}); err != nil {
			return err
		}
		if len(deps.Items) == 0 {
			return fmt.Errorf("no Deployments rendered yet")
		}
		for _, d := range deps.Items {
			if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == *d.Spec.Replicas {
				continue
			}
			n := *d.Spec.Replicas
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
				Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
					Reason: "MinimumReplicasAvailable", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
			}
			if err := k8s.Status().Update(context.Background(), &d); err != nil {
				return err
			}
		}
		return nil
	}
}

// helmRelease is the part of Helm's stored release record the tests read.
type helmRelease struct {
	secret  corev1.Secret
	raw     map[string]any
	Version int
	Status  string
}

// releaseRevisions reads Helm's storage Secrets directly, as a crash-recovery
// test must: through the stored records, not through the code under test.
func releaseRevisions(t *testing.T, namespace string) []helmRelease {
	t.Helper()
	var secrets corev1.SecretList
	if err := k8s.List(context.Background(), &secrets, client.InNamespace(namespace),
		client.MatchingLabels{"owner": "helm", "name": release.ReleaseName}); err != nil {
		t.Fatal(err)
	}
	var out []helmRelease
	for _, s := range secrets.Items {
		raw, err := decodeRelease(s.Data["release"])
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.Atoi(s.Labels["version"])
		info, _ := raw["info"].(map[string]any)
		st, _ := info["status"].(string)
		out = append(out, helmRelease{secret: s, raw: raw, Version: v, Status: st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

func latestRevision(t *testing.T, namespace string) (int, string) {
	revs := releaseRevisions(t, namespace)
	if len(revs) == 0 {
		return 0, ""
	}
	last := revs[len(revs)-1]
	return last.Version, last.Status
}

// setReleaseStatus rewrites a stored revision's status, as a crash mid-install leaves it.
func setReleaseStatus(t *testing.T, r helmRelease, status string) {
	t.Helper()
	r.raw["info"].(map[string]any)["status"] = status
	enc, err := encodeRelease(r.raw)
	if err != nil {
		t.Fatal(err)
	}
	s := r.secret.DeepCopy()
	s.Data["release"] = enc
	s.Labels["status"] = status
	if err := k8s.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// Helm stores base64(gzip(json)) in the Secret's "release" key (itself base64 in the API).
func decodeRelease(data []byte) (map[string]any, error) {
	gz, err := base64.StdEncoding.DecodeString(string(data))
	if err != nil {
		return nil, err
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	js, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(js, &out)
}

func encodeRelease(rel map[string]any) ([]byte, error) {
	js, err := json.Marshal(rel)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(js); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}
