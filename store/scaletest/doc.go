// Package scaletest holds the scale benchmarks: databases of many keys,
// built with the bulk path (store.CreateApps, ten keys an app), opened as
// serve and the console open them, against baselines measured in the same
// run. Sizes above 100,000 keys are built only when APISCOPES_SCALE_KEYS
// asks (APISCOPES_SCALE_KEYS=1000000); APISCOPES_SCALE_DIR keeps the built
// files between runs. Run:
//
//	go test -run '^$' -bench . -benchtime 1x ./store/scaletest
//	APISCOPES_SCALE_KEYS=1000000 APISCOPES_SCALE_DIR=/var/tmp/scale go test -run '^$' -bench . -benchtime 1x -timeout 2h ./store/scaletest
package scaletest
