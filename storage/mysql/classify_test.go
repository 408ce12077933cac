package mysql

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/tock-sched/tock/storage/internal/sqlstore"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want sqlstore.ErrorKind
	}{
		{&mysql.MySQLError{Number: 1062}, sqlstore.KindDuplicate},
		{fmt.Errorf("inserting: %w", &mysql.MySQLError{Number: 1213}), sqlstore.KindTransient},
		{&mysql.MySQLError{Number: 1205}, sqlstore.KindTransient},
		{&mysql.MySQLError{Number: 1146}, sqlstore.KindOther},
		{errors.New("x"), sqlstore.KindOther},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
