package cluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshkeeper/meshkeeper/test/cluster/addons"
)

// poll calls check every interval until it reports done, the timeout passes or
// ctx ends; it logs the last reason every 10 s so long waits show progress.
func poll(ctx context.Context, log func(string, ...any), what string, timeout time.Duration, check func(context.Context) (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	lastLog := start
	reason := ""
	for {
		done, why := check(ctx)
		if done {
			log("%s (%.1fs)", what, time.Since(start).Seconds())
			return nil
		}
		reason = why
		if time.Since(lastLog) >= 10*time.Second {
			log("still waiting: %s (%s)", what, reason)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting: %s (last: %s)", timeout, what, reason)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// AdminClient returns a clientset for the cluster's admin kubeconfig.
func AdminClient(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 15 * time.Second
	return kubernetes.NewForConfig(cfg)
}

func apiReady(cs kubernetes.Interface) func(context.Context) (bool, string) {
	return func(ctx context.Context) (bool, string) {
		b, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return false, err.Error()
		}
		return string(b) == "ok", string(b)
	}
}

func nodeReady(cs kubernetes.Interface) func(context.Context) (bool, string) {
	return func(ctx context.Context) (bool, string) {
		n, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, c.Reason + ": " + c.Message
			}
		}
		return false, "no Ready condition yet"
	}
}

func defaultServiceAccount(cs kubernetes.Interface) func(context.Context) (bool, string) {
	return func(ctx context.Context) (bool, string) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	}
}

func coreDNSReady(cs kubernetes.Interface) func(context.Context) (bool, string) {
	return func(ctx context.Context) (bool, string) {
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{
			LabelSelector: labels.SelectorFromSet(addons.DNSLabels).String()})
		if err != nil {
			return false, err.Error()
		}
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return true, ""
				}
			}
			return false, fmt.Sprintf("pod %s is %s", p.Name, p.Status.Phase)
		}
		return false, "no CoreDNS pod yet"
	}
}
