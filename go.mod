module apiscopes

go 1.26.7

require go.etcd.io/bbolt v1.4.3

require (
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
