module vigil.test/verify-interop

go 1.19

require golang.org/x/mod v0.7.0

// Debian's golang-golang-x-mod-dev: builds offline, no module proxy needed.
replace golang.org/x/mod => /usr/share/gocode/src/golang.org/x/mod
