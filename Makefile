# convcalc: build, test and install. `make install PREFIX=/usr/local` installs the binary
# and the man page.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man/man1
SWIFT ?= swift

.PHONY: all build test install uninstall clean

all: build

build:
	$(SWIFT) build -c release

test:
	$(SWIFT) test

install: build
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)"
	install -m 755 "$$($(SWIFT) build -c release --show-bin-path)/convcalc" "$(DESTDIR)$(BINDIR)/convcalc"
	install -m 644 man/convcalc.1 "$(DESTDIR)$(MANDIR)/convcalc.1"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/convcalc" "$(DESTDIR)$(MANDIR)/convcalc.1"

clean:
	rm -rf .build
