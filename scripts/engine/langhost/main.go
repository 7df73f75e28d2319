// pulumi-language-python for machines without the Pulumi installer: a small Python language host written for
// mlinfra and built by scripts/bootstrap-engine against github.com/pulumi/pulumi/sdk/v3 (the gRPC protocol only).
//
// Pulumi's own host lives in its own Go module (sdk/python/cmd/pulumi-language-python/v3), which the Go module
// proxy reachable from our build machines does not serve. The engine needs a host for two things mlinfra uses:
//
//   - RunPlugin: CrossGuard policy packs written in Python (`--policy-pack DIR` with `runtime: python`) are
//     started through the language host: `python DIR <engine address>`; the pack prints its port.
//   - Run: a plain `pulumi preview|up` of a Pulumi.yaml project (Automation API inline programs do not need it:
//     the CLI talks to the in-process server of the Python SDK instead).
//
// Run executes the program with the `pulumi-language-python-exec` script installed next to this binary.
// The interpreter is the project's `runtime.options.virtualenv` if set, else $PULUMI_PYTHON_CMD, else python3
// (the Python that has the project and the Pulumi SDK installed). Dependencies are never installed by this
// host, and GetRequiredPackages reports none: providers are installed into the plugin cache by the bootstrap.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	pbempty "google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// version is stamped by scripts/bootstrap-engine (-ldflags -X main.version=...): the Pulumi version it was built with.
var version = "0.0.0-dev"

// bailExitCode is what the exec script exits with after it has already reported the error to the engine.
const bailExitCode = 32

func main() {
	// The engine passes optional flags (--logtostderr, -v=N, --tracing ADDR) and the engine address last.
	engineAddress := ""
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--tracing" || arg == "-tracing":
			i++ // skip its value
		case strings.HasPrefix(arg, "-"):
		default:
			engineAddress = arg
		}
	}

	self, err := os.Executable()
	if err != nil {
		fail("cannot find own executable: %v", err)
	}
	execScript := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	if _, err := os.Stat(execScript); err != nil {
		fail("missing %s (reinstall with scripts/bootstrap-engine)", execScript)
	}

	host := &pythonHost{engineAddress: engineAddress, execScript: execScript}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fail("could not start language host RPC server: %v", err)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail("language host RPC stopped serving: %v", err)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python (mlinfra): "+format+"\n", a...)
	os.Exit(1)
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	engineAddress string
	execScript    string

	mu      sync.Mutex
	rootDir string
}

func (h *pythonHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.EngineAddress != "" {
		h.engineAddress = req.EngineAddress
	}
	if req.RootDirectory != nil {
		h.rootDir = *req.RootDirectory
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *pythonHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *pythonHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *pythonHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	msg := "mlinfra's Python language host installs nothing: install the project with pip (pip install -e .)\n"
	return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: []byte(msg)})
}

func (h *pythonHost) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	python, err := h.python(req.GetInfo())
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(python, "-c", "import platform; print(platform.python_version())").Output()
	if err != nil {
		return nil, fmt.Errorf("running %s: %w", python, err)
	}
	return &pulumirpc.AboutResponse{Executable: python, Version: strings.TrimSpace(string(out))}, nil
}

func (h *pythonHost) GetProgramDependencies(
	_ context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	python, err := h.python(req.GetInfo())
	if err != nil {
		return nil, err
	}
	args := []string{"-m", "pip", "list", "--format=json", "--disable-pip-version-check"}
	if !req.TransitiveDependencies {
		args = append(args, "--not-required")
	}
	out, err := exec.Command(python, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", python, strings.Join(args, " "), err)
	}
	var packages []struct{ Name, Version string }
	if err := json.Unmarshal(out, &packages); err != nil {
		return nil, fmt.Errorf("parsing pip list: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(packages))
	for _, p := range packages {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// Run executes a Pulumi program (a directory with __main__.py, or a .py file) and waits for it.
func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	python, err := h.python(req.GetInfo())
	if err != nil {
		return nil, err
	}
	program := req.GetProgram() //nolint:staticcheck // the engine still fills it
	if info := req.GetInfo(); info != nil && info.ProgramDirectory != "" {
		program = filepath.Join(info.ProgramDirectory, info.EntryPoint)
	}
	if program == "" {
		program = "."
	}
	root := ""
	if info := req.GetInfo(); info != nil {
		root = info.RootDirectory
	}
	args := []string{
		"-u", h.execScript,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--organization", req.GetOrganization(),
		"--pwd", req.GetPwd(),
		"--root", root,
		"--dry-run=" + strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		program,
	}
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(req.GetConfigSecretKeys())
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = req.GetPwd()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.ExitStatus() == bailExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d",
				exitErr.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run %s: %v", python, err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin starts a plugin written in Python (a policy pack directory): `python DIR ARGS...`.
func (h *pythonHost) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	info := req.GetInfo()
	if info == nil || info.ProgramDirectory == "" {
		return errors.New("RunPlugin: no plugin directory given")
	}
	python, err := h.python(info)
	if err != nil {
		return err
	}
	args := append([]string{"-u", info.ProgramDirectory}, req.GetArgs()...)
	cmd := exec.CommandContext(server.Context(), python, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = append(os.Environ(), req.GetEnv()...)

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr

	code := 0
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("could not run %s %s: %w", python, info.ProgramDirectory, err)
		}
		code = exitErr.ExitCode()
	}
	if err := closer.Close(); err != nil {
		return err
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{
		Exitcode: int32(code), //nolint:gosec // exit codes fit
	}})
}

// python picks the interpreter: runtime.options.virtualenv, $PULUMI_PYTHON_CMD, python3, python.
func (h *pythonHost) python(info *pulumirpc.ProgramInfo) (string, error) {
	if info != nil && info.Options != nil {
		if venv := stringOption(info.Options, "virtualenv"); venv != "" {
			if !filepath.IsAbs(venv) {
				venv = filepath.Join(info.RootDirectory, venv)
			}
			python := filepath.Join(venv, "bin", "python")
			if _, err := os.Stat(python); err != nil {
				return "", fmt.Errorf("runtime.options.virtualenv: %s has no bin/python; create it and pip install "+
					"the project into it (this host does not create virtual environments)", venv)
			}
			return python, nil
		}
	}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return exec.LookPath(cmd)
	}
	for _, name := range []string{"python3", "python"} {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", errors.New("no python3 on PATH (set PULUMI_PYTHON_CMD)")
}

func stringOption(options *structpb.Struct, key string) string {
	if v, ok := options.GetFields()[key]; ok {
		return v.GetStringValue()
	}
	return ""
}
