package apicount

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The counter is fed by a real client-go clientset, so the paths and
// methods are what the operator's clients send.
func TestCounterClassifiesRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Success"}`))
	}))
	defer srv.Close()
	counter := NewCounter()
	cs := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL, WrapTransport: counter.Wrap})
	ctx := context.Background()
	_, _ = cs.CoreV1().Pods("a").List(ctx, metav1.ListOptions{})
	_, _ = cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	_, _ = cs.CoreV1().Secrets("cp").Get(ctx, "s", metav1.GetOptions{})
	_, _ = cs.CoreV1().Pods("a").UpdateStatus(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "a"}}, metav1.UpdateOptions{})
	_, _ = cs.AppsV1().Deployments("a").Patch(ctx, "d", "application/apply-patch+yaml", []byte("{}"), metav1.PatchOptions{DryRun: []string{"All"}})
	_, _ = cs.AppsV1().Deployments("a").Patch(ctx, "d", "application/merge-patch+json", []byte("{}"), metav1.PatchOptions{})
	_ = cs.CoreV1().ConfigMaps("a").Delete(ctx, "c", metav1.DeleteOptions{})
	w, err := cs.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{})
	if err == nil {
		w.Stop()
	}

	got := counter.Snapshot()
	want := Counts{
		{Verb: "list", Resource: "pods"}:                            2,
		{Verb: "get", Resource: "secrets"}:                          1,
		{Verb: "update", Resource: "pods/status"}:                   1,
		{Verb: "patch", Resource: "deployments.apps", DryRun: true}: 1,
		{Verb: "patch", Resource: "deployments.apps"}:               1,
		{Verb: "delete", Resource: "configmaps"}:                    1,
		{Verb: "watch", Resource: "namespaces"}:                     1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if got.Total() != 8 {
		t.Errorf("total %d, want 8: %v", got.Total(), got)
	}
	if got.Writes() != 3 { // the status update, the merge patch, the delete; not the dry run
		t.Errorf("writes %d, want 3", got.Writes())
	}
	if got.Match("", "pods") != 2 || got.Match("get", "") != 1 {
		t.Errorf("Match: %d pods, %d gets", got.Match("", "pods"), got.Match("get", ""))
	}
	counter.Reset()
	if len(counter.Snapshot()) != 0 {
		t.Error("Reset kept counts")
	}
}
