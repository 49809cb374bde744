package cli

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/etcd"
)

// database is which database a command works on: the embedded file (--db,
// the default) or an etcd cluster (--etcd and its companions). Every
// command takes the same flags, each also read from APISCOPES_<FLAG>.
type database struct {
	path string // --db: a file; "" is the default file

	endpoints string // --etcd: comma-separated client URLs
	prefix    string
	cacert    string
	cert      string
	key       string
	user      string
	password  string

	session bool // a session's: the serving process's database, never one named
}

// register adds the database flags to cmd; each also reads its
// APISCOPES_<FLAG> variable. In a session the database is the serving
// process's own: the flags are there only to be refused by name.
func (d *database) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&d.path, "db", d.path, "the database file (default: $XDG_DATA_HOME/apiscopes/apiscopes.db,\nelse ~/.local/share/apiscopes/apiscopes.db)")
	f.StringVar(&d.endpoints, "etcd", d.endpoints, "use an etcd cluster instead: comma-separated client URLs,\ne.g. https://etcd1:2379,https://etcd2:2379")
	f.StringVar(&d.prefix, "etcd-prefix", d.prefix, "where the database lives in the cluster (default /apiscopes/)")
	f.StringVar(&d.cacert, "etcd-cacert", d.cacert, "certificate authority (CA) file of the etcd cluster")
	f.StringVar(&d.cert, "etcd-cert", d.cert, "client certificate file for the cluster")
	f.StringVar(&d.key, "etcd-key", d.key, "the client certificate's key file")
	f.StringVar(&d.user, "etcd-user", d.user, "user name at the etcd cluster; its password in APISCOPES_ETCD_PASSWORD")
	f.StringVar(&d.password, "etcd-password", d.password, "password of the etcd user (prefer APISCOPES_ETCD_PASSWORD: a flag\nis seen by other users of the machine)")
	if d.session {
		for _, name := range databaseFlags {
			f.MarkHidden(name)
		}
	}
}

// databaseFlags are the flags that name a database.
var databaseFlags = []string{"db", "etcd", "etcd-prefix", "etcd-cacert", "etcd-cert", "etcd-key", "etcd-user", "etcd-password"}

// changeNote ends the help of the commands that work on apps and keys.
const changeNote = `

Exit status: 0 done, 1 refused (unknown, ambiguous, not allowed, against a rule),
2 usage or environment error, 3 worth retrying (a conflict, a cluster unavailable).`

// databaseNote is the database flags' part of a command's help.
const databaseNote = `The database: --db FILE (default $XDG_DATA_HOME/apiscopes/apiscopes.db), or an etcd
cluster with --etcd ENDPOINTS. Each flag also reads APISCOPES_<FLAG> (APISCOPES_DB,
APISCOPES_ETCD, …); the database the command line names wins over the other's variables.`

// cluster reports whether the command works on an etcd cluster.
func (d database) cluster() bool { return d.endpoints != "" }

// check refuses settings that contradict each other.
func (d database) check() error {
	if d.cluster() && d.path != "" {
		return errors.New("--db and --etcd name two databases: choose one")
	}
	if !d.cluster() && (d.prefix != "" || d.cacert != "" || d.cert != "" || d.key != "" || d.user != "" || d.password != "") {
		return errors.New("the --etcd-… flags need --etcd ENDPOINTS")
	}
	if (d.cert == "") != (d.key == "") {
		return errors.New("--etcd-cert and --etcd-key go together")
	}
	return nil
}

// config is the etcd engine's configuration.
func (d database) config(maxStaleness time.Duration) etcd.Config {
	var eps []string
	for _, e := range strings.Split(d.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	return etcd.Config{Endpoints: eps, Prefix: d.prefix, Username: d.user, Password: d.password,
		TLS: etcd.TLS{CAFile: d.cacert, CertFile: d.cert, KeyFile: d.key}, MaxStaleness: maxStaleness}
}

// openCluster opens the store on the cluster; a command that only reads
// passes store.ReadOnly. Confirmations of the change stream run only for
// serve, which gives a bound. A cluster of the previous schema is not
// upgraded by opening it (replicas of the older version may serve it):
// the store reads it and makes no change until `apiscopes upgrade` moves
// it on.
func (d database) openCluster(maxStaleness time.Duration, opts ...store.Option) (*store.Store, error) {
	opts = append([]store.Option{store.WaitForUpgrade()}, opts...)
	cfg := d.config(maxStaleness)
	if maxStaleness <= 0 {
		cfg.MaxStaleness = -1
	} else {
		opts = append(opts, store.WithMaxStaleness(maxStaleness))
	}
	st, err := etcd.OpenStore(cfg, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	return st, nil
}

// name is the database as messages name it: its file, or its cluster.
func (d database) name() (string, error) {
	if d.cluster() {
		return "the etcd cluster at " + d.endpoints, nil
	}
	return dbPath(d.path)
}

// reading runs a command that only reads. On a cluster, fn gets a store
// opened read-only. On a file, the process that holds it (a console or
// serve) answers through holder; a free file is opened read-only for fn.
// holder may be nil where fn is all there is.
func (d database) reading(holder func(*local.Conn) error, fn func(*store.Store) error) error {
	open := func() error {
		var st *store.Store
		var err error
		if d.cluster() {
			st, err = d.openCluster(0, store.ReadOnly(), store.WithMaintenance(0))
		} else {
			var path string
			if path, err = dbPath(d.path); err == nil {
				st, err = openForReading(path)
			}
		}
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(st)
	}
	if d.cluster() {
		return open()
	}
	path, err := dbPath(d.path)
	if err != nil {
		return err
	}
	if holder == nil {
		return open()
	}
	return local.Reach(path, holder, open)
}

// readingDirect runs a command that reads the database's records once,
// through direct on the bare engine (no verify index, no change stream),
// so that its memory does not grow with the database. A database the
// records of which are not read as they are (store.ErrNotDirect: an older
// schema, or not an apiscopes database) goes to fn on a store opened
// read-only instead, which reads it or says what it is. The process
// holding a file answers through holder, as reading says.
//
// With pages false a file's pages are not checked as it opens (bbolt's
// check keeps a note of every page: memory that grows with the file): for
// a command that proves what it reads itself, as the audit trail's chain
// does. A damaged page it meets is still an error, not a crash.
func (d database) readingDirect(pages bool, holder func(*local.Conn) error, direct func(store.Engine) error, fn func(*store.Store) error) error {
	viaEngine := func() error {
		if !pages {
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // a fault on the mapped file: a panic, which the engine reports
		}
		var eng store.Engine
		if d.cluster() {
			cfg := d.config(0)
			cfg.MaxStaleness = -1
			e, err := etcd.Open(cfg)
			if err != nil {
				return err
			}
			eng = e
		} else {
			path, err := dbPath(d.path)
			if err != nil {
				return err
			}
			e, err := bolt.Open(path, bolt.Options{ReadOnly: true, Timeout: time.Nanosecond, SkipPageCheck: !pages})
			if err != nil {
				return err
			}
			eng = e
		}
		err := direct(eng)
		if cerr := eng.Close(); err == nil {
			err = cerr
		}
		if errors.Is(err, store.ErrNotDirect) {
			return d.reading(nil, fn)
		}
		return err
	}
	if d.cluster() || holder == nil {
		return viaEngine()
	}
	path, err := dbPath(d.path)
	if err != nil {
		return err
	}
	return local.Reach(path, holder, viaEngine)
}

// missing reports a database file that is not there, as a read command
// says it: a mistyped --db must not read as an empty database, and no file
// is made for it. A cluster is never missing.
func (d database) missing() error {
	if d.cluster() {
		return nil
	}
	path, err := dbPath(d.path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return readError(path, err)
	}
	return nil
}

// openReplica opens a serving replica on the cluster: it fails closed past
// maxStaleness, and takes part in the election of the one replica that does
// the housekeeping (deleting rolled keys, sweeping, hot backups); leads
// says whether this one does now, and report hears why it cannot campaign.
func (d database) openReplica(maxStaleness time.Duration, report func(error), opts ...store.Option) (st *store.Store, leads func() bool, err error) {
	cfg := d.config(maxStaleness)
	eng, err := etcd.Open(cfg)
	if err != nil {
		return nil, nil, err
	}
	l := eng.Lead(report)
	st, err = store.New(eng, append([]store.Option{store.WithName(eng.Name()), store.WithMaxStaleness(maxStaleness),
		store.WithHousekeeping(l.Held), store.WaitForUpgrade()}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	return st, l.Held, nil
}
