# convcalc: build, test and install. `make install PREFIX=/usr/local` installs the binary
# and the man page.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man/man1
SWIFT ?= swift

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

install: build
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)"
	install -m 755 "$$($(SWIFT) build -c release --show-bin-path)/convcalc" "$(DESTDIR)$(BINDIR)/convcalc"
	install -m 644 man/convcalc.1 "$(DESTDIR)$(MANDIR)/convcalc.1"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/convcalc" "$(DESTDIR)$(MANDIR)/convcalc.1"

clean:
	rm -rf .build
