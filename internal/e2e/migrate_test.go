package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/replica"
	"github.com/tock-sched/tock/storage/mysql/mysqltest"
)

// TestConcurrentMigrateProcesses starts three `tock migrate` processes at
// once on a fresh database, round after round: each must exit 0 and leave
// the schema at the latest version. Replicas started together used to exit
// with "missing zero version migration", because goose created its version
// table before taking the migration lock. That race hit about one round in
// 25 on a loaded 2-core machine, so this test catches it only now and then;
// storage/mysql's TestMigrateWaitsForLock checks the locking every time.
//
// The test runs beside the other parallel tests only (the failover
// scenarios are sequential). Its rounds run one after another: rounds at
// once would load the machine and spread each round's processes further
// apart, which makes the race rarer.
func TestConcurrentMigrateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: multi-process tests do not run with -short")
	}
	t.Parallel()
	bin := tockBinary(t)
	const (
		rounds    = 10
		processes = 3
		// roundTimeout bounds one round; migrating an empty database takes
		// well under a second, MigrationLockWait is 60 s.
		roundTimeout = 30 * time.Second
	)
	for round := range rounds {
		t.Run(fmt.Sprintf("round%02d", round), func(t *testing.T) {
			url := mysqltest.NewDatabase(t)
			ctx, cancel := context.WithTimeout(t.Context(), roundTimeout)
			defer cancel()
			cmds := make([]*exec.Cmd, processes)
			outs := make([]bytes.Buffer, processes)
			for i := range cmds {
				cmds[i] = exec.CommandContext(ctx, bin, "migrate", "--store", url)
				cmds[i].Env = ReplicaEnv()
				cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
			}
			// Forked back to back, as a scheduler starts replicas: their own
			// start-up spreads their first looks at the database.
			var wg sync.WaitGroup
			errs := make([]error, processes)
			for i, cmd := range cmds {
				if err := cmd.Start(); err != nil {
					errs[i] = err
					continue
				}
				wg.Go(func() { errs[i] = cmd.Wait() })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("tock migrate #%d: %v\n%s", i, err, outs[i].Bytes())
				}
			}
			if t.Failed() {
				return
			}
			checkSchemaLatest(t, ctx, url)
		})
	}
}

// checkSchemaLatest fails t unless the store at url is migrated to the
// newest version this module knows.
func checkSchemaLatest(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	st, err := replica.OpenStore(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, ok := st.(interface {
		SchemaVersion(ctx context.Context) (current, latest int64, err error)
	})
	if !ok {
		t.Fatalf("%T has no SchemaVersion", st)
	}
	cur, latest, err := v.SchemaVersion(ctx)
	if err != nil || cur != latest {
		t.Fatalf("SchemaVersion = (%d, %d, %v), want current = latest", cur, latest, err)
	}
}
