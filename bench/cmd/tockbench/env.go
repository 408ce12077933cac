package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/gomodule/redigo/redis"

	"github.com/tock-sched/tock/bench/tockrun"
)

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// database is a private MariaDB database for one scenario.
type database struct {
	Name string
	URL  string // tock's --store
	DB   *sql.DB
	root *sql.DB
}

func newDatabase(ctx context.Context, addr, prefix string) (*database, error) {
	root, err := sql.Open("mysql", "root@tcp("+addr+")/?parseTime=true&loc=UTC")
	if err != nil {
		return nil, err
	}
	name := prefix + "_" + randomSuffix()
	if _, err := root.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		root.Close()
		return nil, fmt.Errorf("creating database %s on %s: %w", name, addr, err)
	}
	db, err := sql.Open("mysql", "root@tcp("+addr+")/"+name+"?parseTime=true&loc=UTC&time_zone=%27%2B00%3A00%27")
	if err != nil {
		root.Close()
		return nil, err
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	return &database{Name: name, URL: "mysql://root@" + addr + "/" + name, DB: db, root: root}, nil
}

func (d *database) Close() {
	d.DB.Close()
	_, _ = d.root.Exec("DROP DATABASE IF EXISTS " + d.Name)
	d.root.Close()
}

// count runs a COUNT(*) style query.
func (d *database) count(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := d.DB.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// rowChanges is the server's count of row writes, updates and deletes so far
// (every database and table: the benchmark's tock is the only writer).
func (d *database) rowChanges(ctx context.Context) (int64, error) {
	rows, err := d.DB.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_write','Handler_update','Handler_delete')")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var sum int64
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, rows.Err()
}

// ceiling measures the database's own multi-row INSERT rate into a copy of
// tock's runs table (same columns and indexes) from conns connections for
// d, rows per statement, and the CPU time the server's processes (dbPids)
// spent per row inserted.
func (d *database) ceiling(ctx context.Context, conns, rows int, dur time.Duration, dbPids []int) (float64, time.Duration, error) {
	if _, err := d.DB.ExecContext(ctx, "CREATE TABLE ceiling_runs LIKE runs"); err != nil {
		return 0, 0, fmt.Errorf("creating ceiling_runs: %w", err)
	}
	defer d.DB.Exec("DROP TABLE IF EXISTS ceiling_runs")
	var stmt strings.Builder
	stmt.WriteString("INSERT INTO ceiling_runs (job, digest, scheduled_at, tick_key, trig, status, max_attempts, not_before, created_at, error) VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			stmt.WriteString(",")
		}
		stmt.WriteString("(?, 'd41d8cd98f00b204', ?, ?, 'schedule', 'queued', 1, ?, ?, '')")
	}
	q := stmt.String()
	var total atomic.Int64
	var seq atomic.Int64
	base := time.Now().UTC().Truncate(time.Second)
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	cpu0 := tockrun.CPUTimes(dbPids)
	start := time.Now()
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := make([]any, 0, rows*5)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				args = args[:0]
				for i := 0; i < rows; i++ {
					k := seq.Add(1)
					at := base.Add(time.Duration(k%86400) * time.Second)
					args = append(args, fmt.Sprintf("j%07d", k/86400), at, at, at, time.Now().UTC())
				}
				if _, err := d.DB.ExecContext(ctx, q, args...); err != nil {
					errs <- err
					return
				}
				total.Add(int64(rows))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := tockrun.CPUTimes(dbPids) - cpu0
	select {
	case err := <-errs:
		return 0, 0, fmt.Errorf("multi-row insert: %w", err)
	default:
	}
	n := total.Load()
	if n == 0 {
		return 0, 0, errors.New("multi-row insert: no row inserted")
	}
	return float64(n) / el.Seconds(), cpu / time.Duration(n), nil
}

// redisCleanup deletes the keys of a tock cluster name.
func redisCleanup(addr, cluster string) error {
	c, err := redis.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	cursor := "0"
	for {
		vals, err := redis.Values(c.Do("SCAN", cursor, "MATCH", "*"+cluster+"*", "COUNT", 1000))
		if err != nil {
			return err
		}
		cursor, _ = redis.String(vals[0], nil)
		keys, _ := redis.Strings(vals[1], nil)
		for _, k := range keys {
			if _, err := c.Do("DEL", k); err != nil {
				return err
			}
		}
		if cursor == "0" {
			return nil
		}
	}
}
