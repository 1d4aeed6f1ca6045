# moonsync: build, test, benchmark and install.

.SUFFIXES:

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share/moonsync
MANDIR ?= $(PREFIX)/share/man
LUA_LMOD ?= $(PREFIX)/share/lua/5.4
LUA_CMOD ?= $(PREFIX)/lib/lua/5.4
PKG_CONFIG ?= pkg-config
LUA_PC ?= lua5.4
LUA ?= lua5.4
BUSTED ?= /usr/bin/busted

CFLAGS ?= -O2 -g
BUILD ?= build

PKGS = $(LUA_PC) libcurl libxxhash
WARN = -Wall -Wextra -Werror -Wshadow -Wundef -Wwrite-strings \
       -Wmissing-prototypes -Wstrict-prototypes -Wold-style-definition \
       -Wno-unused-parameter
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) -DMS_SHAREDIR='"$(SHAREDIR)"' \
             $$($(PKG_CONFIG) --cflags $(PKGS)) $(CFLAGS)
LIBS = $$($(PKG_CONFIG) --libs $(PKGS)) -lpthread -lm

CORE = arena buf err value json store diff sync fixture http l_core l_http
CORE_OBJ = $(CORE:%=$(BUILD)/%.o)
BIN_OBJ = $(BUILD)/main.o $(BUILD)/cli_diff.o
HDR = $(wildcard engine/*.h)
CTESTS = $(patsubst spec/c/%.c,$(BUILD)/ctest/%,$(wildcard spec/c/*.c))

all: bin/moonsync lib/moonsync/core.so

$(BUILD)/%.o: engine/%.c $(HDR)
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

bin/moonsync: $(CORE_OBJ) $(BIN_OBJ)
	@mkdir -p bin
	$(CC) $(ALL_CFLAGS) -o $@ $(CORE_OBJ) $(BIN_OBJ) $(LDFLAGS) $(LIBS)

lib/moonsync/core.so: $(CORE_OBJ)
	@mkdir -p lib/moonsync
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(CORE_OBJ) $(LDFLAGS) \
	  $$($(PKG_CONFIG) --libs libcurl libxxhash) -lpthread -lm

$(BUILD)/ctest/%: spec/c/%.c $(CORE_OBJ) $(HDR)
	@mkdir -p $(BUILD)/ctest
	$(CC) $(ALL_CFLAGS) -Iengine -o $@ $< $(CORE_OBJ) $(LDFLAGS) $(LIBS)

ctest: $(CTESTS)

test: all ctest
	@sh scripts/run-tests $(CTESTS)

check-asan:
	$(MAKE) BUILD=build-asan \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -DLUA_USE_APICHECK" \
	  LDFLAGS="-fsanitize=address,undefined" clean-bin all ctest
	ASAN_OPTIONS=detect_leaks=1 MOONSYNC_ASAN=1 sh scripts/run-tests \
	  $(patsubst $(BUILD)/%,build-asan/%,$(CTESTS))
	$(MAKE) clean-bin all

bench: all
	sh scripts/bench

demo: all
	bin/moonsync run examples/demo/demo.lua

conformance: all
	scripts/conformance spec/fixtures/conformance/*/

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(SHAREDIR)/lua/moonsync \
	  $(DESTDIR)$(SHAREDIR)/adapters $(DESTDIR)$(LUA_LMOD)/moonsync \
	  $(DESTDIR)$(LUA_CMOD)/moonsync $(DESTDIR)$(MANDIR)/man1
	cp bin/moonsync $(DESTDIR)$(BINDIR)/
	cp lua/moonsync/*.lua $(DESTDIR)$(SHAREDIR)/lua/moonsync/
	cp lua/moonsync/*.lua $(DESTDIR)$(LUA_LMOD)/moonsync/
	for f in adapters/*.lua; do [ ! -e "$$f" ] || cp "$$f" $(DESTDIR)$(SHAREDIR)/adapters/; done
	cp lib/moonsync/core.so $(DESTDIR)$(LUA_CMOD)/moonsync/
	cp docs/moonsync.1 $(DESTDIR)$(MANDIR)/man1/

clean-bin:
	rm -rf bin lib

clean: clean-bin
	rm -rf build build-asan

.PHONY: all ctest test check-asan bench demo conformance install clean clean-bin
