// Command cmo is the campaign and crisis orchestrator for community
// managers: `cmo dev` runs everything on a laptop, `cmo server` and
// `cmo worker` run it against a Temporal cluster and PostgreSQL.
package main

import (
	"os"

	"github.com/cmo-dev/cmo/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
