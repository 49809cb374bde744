package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"apiscopes/server/local"
	"apiscopes/store"
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
}

// register adds the database flags to a command's flag set.
func (d *database) register(fs *flag.FlagSet) {
	fs.StringVar(&d.path, "db", d.path, "database file")
	fs.StringVar(&d.endpoints, "etcd", d.endpoints, "etcd endpoints")
	fs.StringVar(&d.prefix, "etcd-prefix", d.prefix, "key prefix in etcd")
	fs.StringVar(&d.cacert, "etcd-cacert", d.cacert, "CA of the etcd cluster")
	fs.StringVar(&d.cert, "etcd-cert", d.cert, "client certificate")
	fs.StringVar(&d.key, "etcd-key", d.key, "client certificate's key")
	fs.StringVar(&d.user, "etcd-user", d.user, "etcd user")
	fs.StringVar(&d.password, "etcd-password", d.password, "etcd password (prefer APISCOPES_ETCD_PASSWORD)")
}

// databaseHelp is the database flags' part of every command's usage.
const databaseHelp = `Database (each flag also read from APISCOPES_<FLAG>, e.g. APISCOPES_ETCD; the
database the command line names wins over the other's variables):
  --db PATH            the database file (default: $XDG_DATA_HOME/apiscopes/apiscopes.db,
                       else ~/.local/share/apiscopes/apiscopes.db)
  --etcd ENDPOINTS     use an etcd cluster instead (comma-separated, e.g. https://etcd1:2379,…)
  --etcd-prefix P      where the database lives in the cluster (default /apiscopes/)
  --etcd-cacert FILE, --etcd-cert FILE, --etcd-key FILE   TLS to the cluster
  --etcd-user NAME     etcd user; its password in APISCOPES_ETCD_PASSWORD (--etcd-password
                       shows it to other users of the machine)
`

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
// serve, which gives a bound.
func (d database) openCluster(maxStaleness time.Duration, opts ...store.Option) (*store.Store, error) {
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
func (d database) openReplica(maxStaleness time.Duration, report func(error)) (st *store.Store, leads func() bool, err error) {
	cfg := d.config(maxStaleness)
	eng, err := etcd.Open(cfg)
	if err != nil {
		return nil, nil, err
	}
	l := eng.Lead(report)
	st, err = store.New(eng, store.WithName(eng.Name()), store.WithMaxStaleness(maxStaleness),
		store.WithHousekeeping(l.Held))
	if err != nil {
		return nil, nil, err
	}
	return st, l.Held, nil
}

// namesCluster reports whether a command line gives --etcd (not merely
// APISCOPES_ETCD, which a replica's environment may hold).
func namesCluster(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && strings.HasPrefix(name, "etcd") {
			return true
		}
	}
	return false
}

// givenFlag reports whether the command line itself gives flag name (not
// its APISCOPES_ variable).
func givenFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); n == name {
			return true
		}
	}
	return false
}

// refuseDemoCluster is demo's answer to --etcd.
func refuseDemoCluster(stderr io.Writer) int {
	fmt.Fprintln(stderr, "apiscopes demo: the demo never touches real data, so it takes no --etcd: "+
		"it makes a throw-away database of its own")
	return 2
}
