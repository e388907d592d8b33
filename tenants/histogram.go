package tenants

import "time"

// waitBuckets are the upper bounds, in seconds, of the acquire-wait
// histogram: from "no wait" to the default 5 s deadline.
var waitBuckets = []float64{0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// histogram counts observations in waitBuckets; it is guarded by its
// owner's lock.
type histogram struct {
	counts [14]uint64 // len(waitBuckets); the +Inf bucket is count
	count  uint64
	sum    float64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	for i, b := range waitBuckets {
		if s <= b {
			h.counts[i]++
			break
		}
	}
	h.count++
	h.sum += s
}

// HistogramSnapshot is a copy of an acquire-wait histogram.
type HistogramSnapshot struct {
	Count uint64  `json:"count"`
	Sum   float64 `json:"sum_seconds"`
	// Buckets are cumulative, in increasing order of upper bound.
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	// UpperBound is in seconds.
	UpperBound float64 `json:"le"`
	Count      uint64  `json:"count"`
}

func (h *histogram) snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Count: h.count, Sum: h.sum, Buckets: make([]Bucket, len(waitBuckets))}
	var cum uint64
	for i, b := range waitBuckets {
		cum += h.counts[i]
		s.Buckets[i] = Bucket{UpperBound: b, Count: cum}
	}
	return s
}
