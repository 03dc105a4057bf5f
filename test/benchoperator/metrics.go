package main

import (
	"fmt"

	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

const controllerName = "meshinstallation"

// queue is what the controller-runtime metrics registry says of the
// controller's work queue at one moment.
type queue struct {
	Depth      int
	Latency    []Bucket // workqueue_queue_duration_seconds, cumulative
	Reconciles float64
}

func queueMetrics() (queue, error) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return queue{}, err
	}
	var q queue
	found := false
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case f.GetName() == "workqueue_depth" && label(m, "name") == controllerName:
				q.Depth = int(m.GetGauge().GetValue())
			case f.GetName() == "workqueue_queue_duration_seconds" && label(m, "name") == controllerName:
				found = true
				for _, b := range m.GetHistogram().GetBucket() {
					q.Latency = append(q.Latency, Bucket{UpperBound: b.GetUpperBound(), Count: b.GetCumulativeCount()})
				}
				q.Latency = append(q.Latency, Bucket{UpperBound: inf, Count: m.GetHistogram().GetSampleCount()})
			case f.GetName() == "controller_runtime_reconcile_total" && label(m, "controller") == controllerName:
				q.Reconciles += m.GetCounter().GetValue()
			}
		}
	}
	if !found {
		return q, fmt.Errorf("no workqueue_queue_duration_seconds for %s in the metrics registry", controllerName)
	}
	return q, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
