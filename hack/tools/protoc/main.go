/*
Copyright The EasyService Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command protoc is a minimal stand-in for protoc, written in Go so that code generation needs
// nothing but Go: it accepts exactly what k8s.io/code-generator's go-to-protobuf passes,
//
//	protoc -I DIR [-I DIR]... --NAME_out=[PARAMS:]OUTDIR FILE.proto
//
// compiles FILE.proto and its imports with github.com/bufbuild/protocompile, runs the plugin
// protoc-gen-NAME from PATH on a CodeGeneratorRequest for it, and writes the plugin's files
// under OUTDIR. Anything else is an error.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// invocation is a parsed command line.
type invocation struct {
	importPaths []string
	plugin      string // NAME of --NAME_out
	parameter   string // PARAMS of --NAME_out=PARAMS:OUTDIR
	outDir      string
	file        string // the .proto file, as given
}

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "protoc: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	inv, err := parseArgs(args)
	if err != nil {
		return err
	}
	name, err := virtualName(inv.file, inv.importPaths)
	if err != nil {
		return err
	}
	files, err := compile(ctx, name, inv.importPaths)
	if err != nil {
		return err
	}
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: []string{name},
		ProtoFile:      files,
	}
	if inv.parameter != "" {
		req.Parameter = proto.String(inv.parameter)
	}
	resp, err := runPlugin(ctx, "protoc-gen-"+inv.plugin, req)
	if err != nil {
		return err
	}
	return writeFiles(inv.outDir, resp)
}

func parseArgs(args []string) (*invocation, error) {
	inv := &invocation{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-I" || a == "--proto_path":
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%s needs a directory", a)
			}
			i++
			inv.importPaths = append(inv.importPaths, args[i])
		case strings.HasPrefix(a, "-I"):
			inv.importPaths = append(inv.importPaths, a[len("-I"):])
		case strings.HasPrefix(a, "--proto_path="):
			inv.importPaths = append(inv.importPaths, a[len("--proto_path="):])
		case strings.HasPrefix(a, "--") && strings.Contains(a, "_out="):
			if inv.plugin != "" {
				return nil, errors.New("only one --NAME_out is supported")
			}
			flag, value, _ := strings.Cut(a[len("--"):], "=")
			inv.plugin = strings.TrimSuffix(flag, "_out")
			if params, dir, ok := strings.Cut(value, ":"); ok {
				inv.parameter, inv.outDir = params, dir
			} else {
				inv.outDir = value
			}
		case strings.HasPrefix(a, "-"):
			return nil, fmt.Errorf("unsupported flag %q", a)
		default:
			if inv.file != "" {
				return nil, fmt.Errorf("only one .proto file is supported, got %q and %q", inv.file, a)
			}
			inv.file = a
		}
	}
	switch {
	case inv.file == "":
		return nil, errors.New("no .proto file given")
	case inv.plugin == "" || inv.outDir == "":
		return nil, errors.New("no --NAME_out=DIR given")
	case len(inv.importPaths) == 0:
		inv.importPaths = []string{"."}
	}
	return inv, nil
}

// virtualName is the name of file relative to the import path that holds it, as protoc names the
// files on its command line. When several import paths hold it, the deepest one wins.
func virtualName(file string, importPaths []string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", err
	}
	best := ""
	for _, dir := range importPaths {
		absDir, err := filepath.Abs(dir)
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(absDir, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		if best == "" || len(rel) < len(best) {
			best = rel
		}
	}
	if best == "" {
		return "", fmt.Errorf("%s: file does not reside within any path specified using -I", file)
	}
	return filepath.ToSlash(best), nil
}

// compile compiles name and its imports and returns them as descriptors, every file after the files
// it imports, with source info (comments included) as protoc gives its plugins.
func compile(ctx context.Context, name string, importPaths []string) ([]*descriptorpb.FileDescriptorProto, error) {
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			ImportPaths: importPaths,
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
		Reporter: reporter.NewReporter(nil, func(err reporter.ErrorWithPos) {
			fmt.Fprintf(os.Stderr, "warning: %v\n", err)
		}),
	}
	result, err := compiler.Compile(ctx, name)
	if err != nil {
		return nil, err
	}
	var files []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			add(imports.Get(i).FileDescriptor)
		}
		files = append(files, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range result {
		add(fd)
	}
	return files, nil
}

// runPlugin runs the plugin from PATH with req on its stdin and returns its response.
func runPlugin(ctx context.Context, plugin string, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	path, err := exec.LookPath(plugin)
	if err != nil {
		return nil, err
	}
	in, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", plugin, err)
	}
	resp := &pluginpb.CodeGeneratorResponse{}
	if err := proto.Unmarshal(out.Bytes(), resp); err != nil {
		return nil, fmt.Errorf("%s: reading its response: %w", plugin, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("%s: %s", plugin, resp.GetError())
	}
	return resp, nil
}

// writeFiles writes the response's files under outDir.
func writeFiles(outDir string, resp *pluginpb.CodeGeneratorResponse) error {
	for _, f := range resp.File {
		if f.GetInsertionPoint() != "" {
			return fmt.Errorf("%s: insertion points are not supported", f.GetName())
		}
		name := filepath.FromSlash(f.GetName())
		if name == "" || filepath.IsAbs(name) || !filepath.IsLocal(name) {
			return fmt.Errorf("plugin output %q is not a relative path", f.GetName())
		}
		path := filepath.Join(outDir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(f.GetContent()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
