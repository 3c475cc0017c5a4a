# convcalc: build, test and install. `make install PREFIX=/usr/local` installs the binary,
# the man page and the bash, zsh and fish completions (written by the release binary just
# built, `convcalc --completions SHELL`, so they match its option tables); `DESTDIR` stages
# the install for a package. `make uninstall` removes them all.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man/man1
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
SWIFT ?= swift
# The release binary (for recipes: a shell command substitution).
RELEASE_BIN = "$$($(SWIFT) build -c release --show-bin-path)/convcalc"

.PHONY: all build test docs install uninstall clean

all: build

build:
	$(SWIFT) build -c release

test:
	$(SWIFT) test

# Regenerates the parts of the man page and README that come from the option and layer-key
# tables (between the GENERATED marker comments); DocsTests fails when they are out of date.
docs:
	$(SWIFT) build --product convcalc
	"$$($(SWIFT) build --show-bin-path)/convcalc" _docs man < man/convcalc.1 > man/convcalc.1.tmp && mv man/convcalc.1.tmp man/convcalc.1
	"$$($(SWIFT) build --show-bin-path)/convcalc" _docs readme < README.md > README.md.tmp && mv README.md.tmp README.md

# The completion scripts are written under .build first, so a failure installs nothing half-written.
install: build
	mkdir -p .build/completions
	$(RELEASE_BIN) --completions bash > .build/completions/convcalc.bash
	$(RELEASE_BIN) --completions zsh > .build/completions/_convcalc
	$(RELEASE_BIN) --completions fish > .build/completions/convcalc.fish
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)" "$(DESTDIR)$(BASHCOMPDIR)" "$(DESTDIR)$(ZSHCOMPDIR)" "$(DESTDIR)$(FISHCOMPDIR)"
	install -m 755 $(RELEASE_BIN) "$(DESTDIR)$(BINDIR)/convcalc"
	install -m 644 man/convcalc.1 "$(DESTDIR)$(MANDIR)/convcalc.1"
	install -m 644 .build/completions/convcalc.bash "$(DESTDIR)$(BASHCOMPDIR)/convcalc"
	install -m 644 .build/completions/_convcalc "$(DESTDIR)$(ZSHCOMPDIR)/_convcalc"
	install -m 644 .build/completions/convcalc.fish "$(DESTDIR)$(FISHCOMPDIR)/convcalc.fish"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/convcalc" "$(DESTDIR)$(MANDIR)/convcalc.1" "$(DESTDIR)$(BASHCOMPDIR)/convcalc" \
		"$(DESTDIR)$(ZSHCOMPDIR)/_convcalc" "$(DESTDIR)$(FISHCOMPDIR)/convcalc.fish"

clean:
	rm -rf .build
