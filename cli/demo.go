package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/tui"
)

// The people of the demo's bank. Each is an admin of the bank's settings.
var (
	demoAmara = store.Actor{Name: "amara.okafor", Role: store.Admin, Origin: "demo"}
	demoJonas = store.Actor{Name: "jonas.weber", Role: store.Admin, Origin: "demo"}
	demoPriya = store.Actor{Name: "priya.raman", Role: store.Admin, Origin: "demo"}
)

// demoStory is the welcome the demo opens with: the seed's use case told to
// someone who has never read it.
var demoStory = tui.Demo{
	Title: "Welcome to the apiscopes demo",
	Story: []string{
		"A bank gives each department an API app with only the scopes it needs, " +
			"and API keys for the department's services.",
		"Risk & Compliance may use workflows and models, to build reports from transaction logs " +
			"and audit trails. Customer Support only deploys and undeploys the guardrails that watch AI customer " +
			"interactions. Marketing only exports.",
		"Open an app with enter, press a for the audit log of who changed what, " +
			"or n to make an app and key of your own.",
		"In an app's window (enter), u unticks the scopes its keys did not use for 90 days (u again: 30); " +
			"filter the list with unused:30d for the apps with scopes nobody used for 30 days.",
	},
	Note:   "Nothing here is real: this database is deleted when you quit.",
	Select: "Risk & Compliance",
}

// demoClock is the clock the demo's store runs on: set to moments in the
// past while the story is written, so keys and apps have several ages, then
// back to real time for whatever the visitor does.
type demoClock struct {
	mu  sync.Mutex
	at  time.Time // zero: real time
	now func() time.Time
}

func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return c.now()
	}
	c.at = c.at.Add(time.Second) // events written together still keep their order
	return c.at
}

// set moves the clock to a moment of the story; a zero time returns it to
// real time.
func (c *demoClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = t
}

// demoCommand is `apiscopes demo`: the console on a throw-away database
// that tells the seed's bank story. The database lives in a fresh
// temporary folder that is removed on every way out: quitting, ctrl+c, or a
// signal from outside.
func (inv *invocation) demoCommand() *cobra.Command {
	var extra int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The console on a throw-away bank, to try it",
		Long: `Opens the console on a throw-away database with a bank's apps and keys, and tells their
story first. Nothing here is real: the database is deleted when you quit, and the
demo never touches your own database or a cluster. --apps adds N more apps (up to
50000), to try the console at scale.

In an app's window (enter), u unticks the scopes its keys did not use for 90 days;
filter the list with unused:30d for the apps with scopes nobody used for 30 days.

Exit status: 0 done, 1 failed, 2 usage error (no terminal).`,
		Example: `  apiscopes demo
  apiscopes demo --apps 20000`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if extra < 0 || extra > 50_000 {
				return usagef(cmd, "--apps %d is out of range; give 0 to 50000 extra apps", extra)
			}
			return inv.demo(cmd.Context(), extra)
		},
	}
	cmd.Flags().IntVar(&extra, "apps", 0, "add this many synthetic apps, to try it at scale")
	for _, name := range databaseFlags {
		// The demo never touches real data: a database named is refused by
		// name, not read as an unknown flag.
		cmd.Flags().String(name, "", "")
		cmd.Flags().MarkHidden(name)
	}
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		for _, name := range databaseFlags {
			if given(cmd, name) {
				return usagef(cmd, "the demo never touches real data, so it takes no --%s: "+
					"it makes a throw-away database of its own", name)
			}
		}
		return nil
	}
	return cmd
}

// demo runs the console on the demo's database until the visitor quits.
func (inv *invocation) demo(ctx context.Context, extra int) error {
	if f, ok := inv.stdin.(*os.File); !ok || !isTerminal(f) {
		return failf(ExitUsage, "the console needs a terminal; run it in one (stdin is not a TTY)")
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stop()
	err := withDemoStore(ctx, demoConfig{now: time.Now, extra: extra, status: inv.stderr}, func(st *store.Store) error {
		m := tui.New(tui.Options{Context: ctx, Store: st, Actor: localActor(), Demo: &demoStory, Term: inv.getenv("TERM")})
		defer m.Close()
		_, err := tea.NewProgram(m, tea.WithInput(inv.stdin), tea.WithOutput(inv.stdout), tea.WithContext(ctx)).Run()
		if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
			return nil // a signal asked us to stop: the folder still goes
		}
		return err
	})
	if err != nil {
		return fail(ExitRefused, err)
	}
	return nil
}

// demoConfig is how a demo database is made.
type demoConfig struct {
	now    func() time.Time // the present of the story
	extra  int              // synthetic apps beyond the story's
	status io.Writer        // where the spinner goes while the story is written
	random io.Reader        // key secrets; crypto/rand if nil
}

// withDemoStore makes a temporary folder with a demo database, seeded with
// the bank story (and extra synthetic apps, if asked) under a spinner,
// runs use on it, and removes the folder whatever use returns.
func withDemoStore(ctx context.Context, cfg demoConfig, use func(*store.Store) error) (err error) {
	now, extra := cfg.now, cfg.extra
	dir, err := os.MkdirTemp("", "apiscopes-demo-")
	if err != nil {
		return fmt.Errorf("create the demo's temporary folder: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove the demo's folder %s: %w", dir, rmErr)
		}
	}()
	clock := &demoClock{now: now}
	clock.set(now().AddDate(0, 0, -200)) // the database, and its tracking of use, began with the story
	opts := []store.Option{store.WithClock(clock.Now)}
	if cfg.random != nil {
		opts = append(opts, store.WithRandom(cfg.random))
	}
	st, err := bolt.OpenStore(filepath.Join(dir, "demo.db"), bolt.Options{}, opts...)
	if err != nil {
		return err
	}
	defer st.Close()
	label := "Preparing the demo…"
	if extra > 0 {
		label = fmt.Sprintf("Preparing the demo with %d more apps…", extra)
	}
	err = progress(cfg.status, label, func() error {
		// The bulk apps first, dated before the story, so the audit log's
		// times rise with its sequence and the story is what is newest.
		if err := seedScale(ctx, st, clock, now(), extra); err != nil {
			return fmt.Errorf("add %d demo apps: %w", extra, err)
		}
		if err := seedDemo(ctx, st, clock, now()); err != nil {
			return fmt.Errorf("seed the demo: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	clock.set(time.Time{})
	return use(st)
}

// seedDemo writes the bank's last four months through the store, as its
// admins would have: apps created, renamed and re-scoped, keys created,
// rolled, left to expire and deleted, and used by services at different
// times. The audit log tells the same story.
func seedDemo(ctx context.Context, st *store.Store, clock *demoClock, now time.Time) error {
	wf := scopes.NewSet(scopes.WorkflowDeploy, scopes.WorkflowUndeploy, scopes.WorkflowImport, scopes.WorkflowExport)
	md := scopes.NewSet(scopes.ModelDeploy, scopes.ModelUndeploy, scopes.ModelImport, scopes.ModelExport)
	gr := scopes.NewSet(scopes.GuardrailDeploy, scopes.GuardrailUndeploy)
	day := func(ago int, hour int) {
		clock.set(now.AddDate(0, 0, -ago).Truncate(24 * time.Hour).Add(time.Duration(hour) * time.Hour))
	}

	var risk, support, marketing, sandbox store.App
	var oldAgency, staging store.Key
	texts := map[string]string{} // the keys' text, kept only to check them below
	issue := func(actor store.Actor, appID uint64, name string, o store.KeyOptions) error {
		text, _, err := st.CreateKeyWith(ctx, actor, appID, name, o)
		texts[name] = text
		return err
	}
	issueInto := func(actor store.Actor, appID uint64, name string, into *store.Key) (err error) {
		texts[name], *into, err = st.CreateKey(ctx, actor, appID, name)
		return err
	}
	// used stands for a service checking a key, ago before now: the key list
	// shows when each was last used.
	used := func(name string, ago time.Duration) error {
		clock.set(now.Add(-ago))
		_, err := st.Verify(texts[name], scopes.ModelDeploy)
		return err
	}
	steps := []func() error{
		func() (err error) {
			day(121, 9)
			risk, err = st.CreateApp(ctx, demoAmara, "Risk Reporting", wf|md)
			return err
		},
		func() error { day(121, 10); return issue(demoAmara, risk.ID, "reports-prod", store.KeyOptions{}) },
		func() (err error) {
			day(104, 14)
			_, err = st.SaveApp(ctx, demoAmara, risk, "Risk & Compliance", risk.Scopes)
			return err
		},
		func() (err error) {
			day(92, 11)
			support, err = st.CreateApp(ctx, demoPriya, "Customer Support", gr)
			return err
		},
		func() error { day(92, 11); return issue(demoPriya, support.ID, "support-bot", store.KeyOptions{}) },
		func() (err error) {
			day(75, 16)
			sandbox, err = st.CreateApp(ctx, demoJonas, "Fraud Sandbox", scopes.NewSet(scopes.ModelImport, scopes.ModelDeploy))
			return err
		},
		func() error { day(75, 16); return issue(demoJonas, sandbox.ID, "notebook", store.KeyOptions{}) },
		func() error { day(61, 10); return issue(demoJonas, risk.ID, "audit-trail-batch", store.KeyOptions{}) },
		func() (err error) {
			day(47, 9)
			marketing, err = st.CreateApp(ctx, demoJonas, "Marketing",
				scopes.NewSet(scopes.WorkflowExport, scopes.ModelExport, scopes.ModelDeploy))
			return err
		},
		func() error {
			day(47, 9)
			return issue(demoJonas, marketing.ID, "campaign-analytics", store.KeyOptions{ExpiresIn: 30 * 24 * time.Hour})
		},
		func() error { day(40, 15); return issueInto(demoJonas, marketing.ID, "old-agency", &oldAgency) },
		func() error { day(36, 17); return st.DeleteApp(ctx, demoAmara, sandbox.ID) },
		func() error { day(30, 13); return issueInto(demoAmara, risk.ID, "reports-staging", &staging) },
		func() error { day(21, 8); return st.DeleteKey(ctx, demoAmara, staging.ID) },
		func() error {
			day(14, 12)
			return issue(demoPriya, support.ID, "chat-monitor", store.KeyOptions{ExpiresIn: 90 * 24 * time.Hour})
		},
		func() (err error) {
			day(10, 10) // Marketing only exports: deploying models is Risk's job
			_, err = st.SaveApp(ctx, demoAmara, marketing, marketing.Name, scopes.NewSet(scopes.WorkflowExport, scopes.ModelExport))
			return err
		},
		func() error { day(5, 9); return st.DeleteKey(ctx, demoJonas, oldAgency.ID) },
		func() error { day(2, 16); return issue(demoAmara, risk.ID, "quarterly-close", store.KeyOptions{}) },
		func() error { // reports-prod is replaced, the old key kept for a week while services move over
			day(1, 11)
			keys, err := st.Keys(ctx, risk.ID)
			if err != nil || len(keys) == 0 {
				return err
			}
			texts["reports-prod (rolled)"], _, _, err = st.RollKey(ctx, demoAmara, keys[0].ID, 7*24*time.Hour)
			return err
		},
		func() error { return used("reports-prod", 26*time.Hour) },
		func() error { return used("reports-prod (rolled)", 3*time.Minute) },
		func() error { return used("audit-trail-batch", 9*time.Hour) },
		func() error { return used("support-bot", 40*time.Second) },
		func() error { return used("chat-monitor", 2*24*time.Hour) },
		func() error { return used("campaign-analytics", 20*24*time.Hour) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// seedScale adds n synthetic apps of up to five keys each in a few commits, so
// the demo can show the console with as many apps as a large bank has.
func seedScale(ctx context.Context, st *store.Store, clock *demoClock, now time.Time, n int) error {
	if n == 0 {
		return nil
	}
	sets := []scopes.Set{
		scopes.NewSet(scopes.WorkflowDeploy, scopes.WorkflowExport),
		scopes.NewSet(scopes.ModelDeploy, scopes.ModelUndeploy),
		scopes.NewSet(scopes.GuardrailDeploy),
		scopes.NewSet(scopes.WorkflowImport, scopes.ModelImport, scopes.ModelExport),
	}
	teams := []string{"Payments", "Lending", "Treasury", "Cards", "Wealth", "Fraud", "Onboarding", "Collections"}
	specs := make([]store.AppSpec, n)
	for i := range specs {
		keys := make([]string, i%6)
		for k := range keys {
			keys[k] = fmt.Sprintf("service-%d", k+1)
		}
		specs[i] = store.AppSpec{Name: fmt.Sprintf("%s service %05d", teams[i%len(teams)], i+1),
			Scopes: sets[i%len(sets)], Keys: keys}
	}
	clock.set(now.AddDate(0, 0, -200))
	// Commits of a couple of thousand apps: one huge transaction grows
	// slower than linearly, many small ones spend their time in fsync.
	const chunk = 2000
	for len(specs) > 0 {
		n := min(chunk, len(specs))
		if _, err := st.CreateApps(ctx, demoJonas, specs[:n]); err != nil {
			return err
		}
		specs = specs[n:]
	}
	return nil
}
