# moonsync: build, test, benchmark and install.

.SUFFIXES:

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
LUA_LMOD ?= $(PREFIX)/share/lua/5.4
LUA_CMOD ?= $(PREFIX)/lib/lua/5.4
PKG_CONFIG ?= pkg-config
LUA_PC ?= lua5.4
LUA ?= lua5.4
BUSTED ?= /usr/bin/busted

CFLAGS ?= -O2 -g
BUILD ?= build

PKGS = $(LUA_PC) libcurl libxxhash sqlite3 libpcre2-8
WARN = -Wall -Wextra -Werror -Wshadow -Wundef -Wwrite-strings \
       -Wmissing-prototypes -Wstrict-prototypes -Wold-style-definition \
       -Wno-unused-parameter
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC $(WARN) -DMS_LUADIR='"$(LUA_LMOD)"' \
             $$($(PKG_CONFIG) --cflags $(PKGS)) $(CFLAGS)
LIBS = $$($(PKG_CONFIG) --libs $(PKGS)) -lpthread -lm

CORE = arena buf err sha256 value json load csv store diff sync fixture http mapping perm fsafe proc progress \
       l_common l_model l_record l_store l_diff l_util l_sync l_mapping l_http l_perm l_sqlite l_regex l_init
CORE_OBJ = $(CORE:%=$(BUILD)/%.o)
BIN_OBJ = $(BUILD)/main.o
HDR = $(wildcard engine/*.h)
FUZZ = json fixture diff headers lua
CTESTS = $(patsubst spec/c/%.c,$(BUILD)/ctest/%,$(wildcard spec/c/*.c)) \
         $(FUZZ:%=$(BUILD)/ctest/fuzz_%)
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang

# the bundled adapters live in adapters/, one file per system; the build
# places them as moonsync.adapters.NAME beside the core module in lib/
ADAPTERS = $(wildcard adapters/*.lua)
LIB_ADAPTERS = $(ADAPTERS:adapters/%=lib/moonsync/adapters/%)

all: bin/moonsync lib/moonsync/core.so $(LIB_ADAPTERS)

lib/moonsync/adapters/%.lua: adapters/%.lua
	@mkdir -p lib/moonsync/adapters
	cp $< $@

$(BUILD)/%.o: engine/%.c $(HDR)
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

bin/moonsync: $(CORE_OBJ) $(BIN_OBJ)
	@mkdir -p bin
	$(CC) $(ALL_CFLAGS) -o $@ $(CORE_OBJ) $(BIN_OBJ) $(LDFLAGS) $(LIBS)

lib/moonsync/core.so: $(CORE_OBJ)
	@mkdir -p lib/moonsync
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(CORE_OBJ) $(LDFLAGS) \
	  $$($(PKG_CONFIG) --libs libcurl libxxhash sqlite3 libpcre2-8) -lpthread -lm

$(BUILD)/ctest/%: spec/c/%.c $(CORE_OBJ) $(HDR)
	@mkdir -p $(BUILD)/ctest
	$(CC) $(ALL_CFLAGS) -Iengine -o $@ $< $(CORE_OBJ) $(LDFLAGS) $(LIBS)

# fuzz targets as replayers of their seed and regression corpora
$(BUILD)/ctest/fuzz_%: fuzz/fuzz_%.c fuzz/standalone.c fuzz/fuzz.h $(CORE_OBJ) $(HDR)
	@mkdir -p $(BUILD)/ctest
	$(CC) $(ALL_CFLAGS) -Iengine -Ifuzz -DFUZZ_CORPUS='"fuzz/corpus/$*"' \
	  -DMS_ROOT='"$(CURDIR)"' -o $@ $< fuzz/standalone.c $(CORE_OBJ) $(LDFLAGS) $(LIBS)

ctest: $(CTESTS)

# libFuzzer runs: FUZZ_SECONDS per target; findings land in build-fuzz/
fuzz:
	@mkdir -p build-fuzz
	for t in $(FUZZ); do \
	  $(FUZZ_CC) -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -DMS_ROOT='"$(CURDIR)"' \
	    $$($(PKG_CONFIG) --cflags $(PKGS)) -Iengine -Ifuzz \
	    -o build-fuzz/fuzz_$$t fuzz/fuzz_$$t.c engine/arena.c engine/buf.c \
	    engine/err.c engine/sha256.c engine/value.c engine/json.c engine/load.c engine/csv.c engine/store.c engine/diff.c \
	    engine/sync.c engine/fixture.c engine/http.c engine/mapping.c \
	    engine/perm.c engine/fsafe.c engine/proc.c engine/progress.c \
	    engine/l_common.c engine/l_model.c engine/l_record.c engine/l_store.c \
	    engine/l_diff.c engine/l_util.c engine/l_sync.c engine/l_mapping.c \
	    engine/l_http.c engine/l_perm.c engine/l_init.c \
	    $$($(PKG_CONFIG) --libs $(PKGS)) -lpthread -lm || exit 1; \
	  mkdir -p build-fuzz/corpus/$$t; cp fuzz/corpus/$$t/* build-fuzz/corpus/$$t/ 2>/dev/null; \
	  (cd build-fuzz && ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=crash-$$t- corpus/$$t) || exit 1; \
	done

test: all ctest
	@sh scripts/run-tests $(CTESTS)

check-asan:
	$(MAKE) BUILD=build-asan \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -DLUA_USE_APICHECK" \
	  LDFLAGS="-fsanitize=address,undefined" clean-bin all ctest
	@# the normal binaries come back whatever the outcome
	ASAN_OPTIONS=detect_leaks=1 MOONSYNC_ASAN=1 sh scripts/run-tests \
	  $(patsubst $(BUILD)/%,build-asan/%,$(CTESTS)); status=$$?; \
	  $(MAKE) clean-bin all >/dev/null; exit $$status

# ThreadSanitizer over what runs in two threads: the two documents of a
# diff --schema load at once, and a diff of 100,000 records or more splits
check-tsan:
	$(MAKE) BUILD=build-tsan CFLAGS="-O1 -g -fsanitize=thread" \
	  LDFLAGS="-fsanitize=thread" clean-bin all
	@# the normal binaries come back whatever the outcome
	status=0; \
	TSAN_OPTIONS=halt_on_error=1 bin/moonsync diff --schema examples/demo/schema.json \
	  examples/demo/inventory.json examples/demo/nautobot.json >/dev/null; \
	  test $$? -eq 2 || status=1; \
	TSAN_OPTIONS=halt_on_error=1 lua5.4 $(BUSTED) -o TAP spec/unit/diff_split_spec.lua \
	  || status=1; \
	$(MAKE) clean-bin all >/dev/null; exit $$status

# valgrind (memcheck) over the C unit tests and representative runs of the
# command: a diff, the conformance suite through Lua, a job sync, a plan,
# the finalizer scenarios of the sandbox, and the run history they made
VALGRIND = valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
           --error-exitcode=9
check-valgrind: export MOONSYNC_HISTORY = $(CURDIR)/$(BUILD)/vg-history.sqlite
check-valgrind: all ctest
	@set -e; for t in $(CTESTS); do echo "valgrind $$t"; $(VALGRIND) $$t >/dev/null; done
	@# a diff that finds differences exits 2; valgrind's own failure is 9
	$(VALGRIND) bin/moonsync diff --schema examples/demo/schema.json \
	  examples/demo/inventory.json examples/demo/nautobot.json >/dev/null || test $$? -eq 2
	$(VALGRIND) bin/moonsync run scripts/conformance.lua --out $(BUILD)/vg-conformance \
	  spec/fixtures/conformance/*/ >/dev/null
	cp examples/demo/nautobot.json $(BUILD)/vg-target.json
	MOONSYNC_DEMO_TARGET=$(BUILD)/vg-target.json $(VALGRIND) bin/moonsync sync \
	  examples/demo/job.lua >/dev/null
	MOONSYNC_DEMO_TARGET=$(BUILD)/vg-target.json $(VALGRIND) bin/moonsync plan \
	  examples/demo/job.lua -o $(BUILD)/vg-plan.json >/dev/null
	$(VALGRIND) bin/moonsync run spec/fixtures/finalizers.lua >/dev/null
	$(VALGRIND) bin/moonsync history show 1 --format json --report $(BUILD)/vg-report.html >/dev/null
	@echo "valgrind: clean"

bench: all
	sh scripts/bench

demo: all
	bin/moonsync run examples/demo/demo.lua

conformance: all
	scripts/conformance spec/fixtures/conformance/*/

# the Lua modules (adapters under moonsync.adapters) go on Lua's standard
# path, where the command, stock lua5.4 and LuaRocks all find them
install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(LUA_LMOD)/moonsync/adapters \
	  $(DESTDIR)$(LUA_CMOD)/moonsync $(DESTDIR)$(MANDIR)/man1
	cp bin/moonsync $(DESTDIR)$(BINDIR)/
	cp lua/moonsync/*.lua $(DESTDIR)$(LUA_LMOD)/moonsync/
	cp adapters/*.lua $(DESTDIR)$(LUA_LMOD)/moonsync/adapters/
	cp lib/moonsync/core.so $(DESTDIR)$(LUA_CMOD)/moonsync/
	cp docs/moonsync.1 $(DESTDIR)$(MANDIR)/man1/

clean-bin:
	rm -rf bin lib

clean: clean-bin
	rm -rf build build-asan build-fuzz

.PHONY: all ctest test check-asan check-tsan check-valgrind fuzz bench demo conformance install clean clean-bin
