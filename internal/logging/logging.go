// Package logging makes the one zap logger of a skiff process and routes klog (k8s.io libraries) and
// controller-runtime's logr through it.
package logging

import (
	"io"
	"os"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc/grpclog"
	"k8s.io/klog/v2"
)

// New returns a console logger at the given verbosity (0: info and above) and makes klog write to it.
func New(verbosity int) (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	cfg.Encoding = "console"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Level = zap.NewAtomicLevelAt(zapcore.Level(-verbosity))
	cfg.Sampling = nil
	logger, err := cfg.Build()
	if err != nil {
		return nil, err
	}
	klog.SetLogger(zapr.NewLogger(logger))
	// gRPC (the etcd client) reports every reconnect attempt at info; only its errors matter here.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, os.Stderr))
	return logger, nil
}
