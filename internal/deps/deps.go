// Package deps pins the project's third-party dependencies in go.mod while
// the packages that use them are being written.
package deps

import (
	_ "github.com/apache/arrow/go/v15/arrow"
	_ "github.com/apache/arrow/go/v15/arrow/csv"
	_ "github.com/apache/arrow/go/v15/parquet/pqarrow"
	_ "github.com/dmitryikh/leaves"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/schollz/progressbar/v3"
	_ "go.uber.org/goleak"
	_ "go4.org/unsafe/assume-no-moving-gc"
	_ "golang.org/x/sync/errgroup"
	_ "google.golang.org/grpc"
	_ "gopkg.in/yaml.v3"
	_ "gorgonia.org/gorgonia"
	_ "gorgonia.org/tensor"
)
