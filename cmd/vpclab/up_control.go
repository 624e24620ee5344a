package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/sandbox"
	"github.com/vpclab/vpclab/topology"
)

// controlFlags are up's flags for its control API.
type controlFlags struct {
	runDir string // the run directory itself; "" is BaseDir()/NAME
	name   string // the sandbox name; "" is the topology's name, else its file's
}

func addControlFlags(cmd *cobra.Command, cf *controlFlags) {
	cmd.Flags().StringVar(&cf.runDir, "run-dir", "",
		"run directory of the control socket and info.json (default $XDG_RUNTIME_DIR/vpclab/NAME, or /tmp/vpclab-UID/NAME)")
	cmd.Flags().StringVar(&cf.name, "name", "", "sandbox name for the other verbs' --sandbox (default: the topology's name, else its file's base name)")
}

// startControl serves the control API of lab in its run directory and says
// where on stderr. The context it returns ends, besides ctx's end, when a
// client runs `vpclab down`; stop closes the server and removes the run
// directory (it may be called more than once). onProbe gets the result of
// every probe the API runs.
func startControl(ctx context.Context, lab *topology.Lab, cf controlFlags, stderr io.Writer, log *slog.Logger, onProbe func(...topology.Result)) (context.Context, func(), error) {
	file := lab.Topology.File
	if file == defaultTopologyName {
		file = ""
	}
	name := cf.name
	if name == "" {
		name = sandbox.Name(lab.Topology.Name, file)
	}
	if err := sandbox.CheckName(name); err != nil {
		return nil, nil, usageError("--name: %v", err)
	}
	if file != "" {
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	srv, err := sandbox.Start(lab, sandbox.Options{Name: name, File: file, Dir: cf.runDir, OnDown: cancel, Logger: log,
		OnProbe: func(r topology.Result) { onProbe(r) }})
	if err != nil {
		cancel()
		return nil, nil, &exitError{code: 1, err: fmt.Errorf("control API: %w", err)}
	}
	info := srv.Info()
	target := "--sandbox " + name
	if cf.runDir != "" {
		target = "--run-dir " + info.Dir
	}
	fmt.Fprintf(stderr, "vpclab up: control: vpclab %s rule|group|probe|conntrack|stats|audit|down … (socket %s)\n", target, info.Socket)
	return ctx, func() {
		srv.Close()
		cancel()
	}, nil
}
