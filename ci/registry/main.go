// Command registry is the CNCF distribution registry with only what the tests use: the
// filesystem and in-memory storage drivers and no authentication. The tests start it on a free
// 127.0.0.1 port to push the chart with `helm push` and install it from there.
//
//	registry serve CONFIG.yml
package main

import (
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

func main() {
	// RootCmd reports its own errors and exits non-zero on them.
	_ = registry.RootCmd.Execute()
}
