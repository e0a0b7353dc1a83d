package serve

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are one server's Prometheus collectors, in its own registry.
type metrics struct {
	reg             *prometheus.Registry
	requests        *prometheus.CounterVec   // deployment, protocol, code
	latency         *prometheus.HistogramVec // deployment, protocol
	errors          *prometheus.CounterVec   // deployment, kind
	replicaFailures *prometheus.CounterVec   // deployment
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "goray", Subsystem: "serve", Name: "requests_total",
			Help: "Requests answered, by deployment, protocol and status code.",
		}, []string{"deployment", "protocol", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "goray", Subsystem: "serve", Name: "request_duration_seconds",
			Help:    "Request latency from arrival to answer, queueing included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"deployment", "protocol"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "goray", Subsystem: "serve", Name: "errors_total",
			Help: "Failed requests by deployment and kind (bad_request, client_closed, overloaded, timeout, replica_failed, internal).",
		}, []string{"deployment", "kind"}),
		replicaFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "goray", Subsystem: "serve", Name: "replica_failures_total",
			Help: "Replicas that crashed, failed a health check or failed to start.",
		}, []string{"deployment"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.errors, m.replicaFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// depMetrics caches one deployment's children of the vectors, so the hot
// path does no label lookups for the common case.
type depMetrics struct {
	name            string
	m               *metrics
	ok              [2]prometheus.Counter  // code 200, by protocol
	latency         [2]prometheus.Observer // by protocol
	replicaFailures prometheus.Counter
}

type protocol int

const (
	protoHTTP protocol = iota
	protoGRPC
)

func (p protocol) String() string {
	if p == protoGRPC {
		return "grpc"
	}
	return "http"
}

func (m *metrics) forDeployment(ds *deploymentState) *depMetrics {
	dm := &depMetrics{name: ds.name, m: m, replicaFailures: m.replicaFailures.WithLabelValues(ds.name)}
	for _, p := range []protocol{protoHTTP, protoGRPC} {
		dm.ok[p] = m.requests.WithLabelValues(ds.name, p.String(), "200")
		dm.latency[p] = m.latency.WithLabelValues(ds.name, p.String())
	}
	name := ds.name
	gauge := func(metric, help string, f func() float64) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "goray", Subsystem: "serve", Name: metric, Help: help,
			ConstLabels: prometheus.Labels{"deployment": name},
		}, f)
	}
	m.reg.MustRegister(
		gauge("queue_depth", "Requests waiting for a replica.", func() float64 {
			_, q, _ := ds.router.load()
			return float64(q)
		}),
		gauge("ongoing_requests", "Requests being served by replicas.", func() float64 {
			o, _, _ := ds.router.load()
			return float64(o)
		}),
		gauge("replicas", "Replicas taking requests.", func() float64 {
			_, _, n := ds.router.load()
			return float64(n)
		}),
		gauge("target_replicas", "Replicas the controller aims for.", func() float64 {
			return float64(ds.getStatus().TargetReplicas)
		}),
	)
	return dm
}

// observe records one answered request.
func (dm *depMetrics) observe(p protocol, code int, err error, d time.Duration) {
	dm.latency[p].Observe(d.Seconds())
	if code == 200 {
		dm.ok[p].Inc()
		return
	}
	dm.m.requests.WithLabelValues(dm.name, p.String(), strconv.Itoa(code)).Inc()
	if code < 400 {
		return
	}
	kind := "internal"
	switch {
	case code == 503:
		kind = "overloaded"
	case code == 504:
		kind = "timeout"
	case code == 499:
		// The client went away before the answer: not its request's fault.
		kind = "client_closed"
	case code < 500:
		kind = "bad_request"
	case err != nil && isReplicaFailure(err):
		kind = "replica_failed"
	}
	dm.m.errors.WithLabelValues(dm.name, kind).Inc()
}
