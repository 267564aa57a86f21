// Command composecheck validates Compose files the way Docker Compose does, offline: it loads
// them with compose-go (the Compose Specification's reference library, which Docker Compose
// itself uses), so the embedded compose-spec JSON schema and the cross-reference checks
// (depends_on targets, volumes, conditions) apply. It prints the service names on success.
//
//	composecheck FILE...
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck COMPOSE_FILE...")
		os.Exit(2)
	}
	paths := make([]string, 0, len(os.Args)-1)
	for _, arg := range os.Args[1:] {
		path, err := filepath.Abs(arg)
		if err != nil {
			fail(err)
		}
		paths = append(paths, path)
	}
	options, err := cli.NewProjectOptions(
		paths,
		cli.WithWorkingDirectory(filepath.Dir(paths[0])),
		cli.WithName("composecheck"),
		cli.WithOsEnv,
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	fmt.Println(strings.Join(project.ServiceNames(), " "))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "composecheck:", err)
	os.Exit(1)
}
