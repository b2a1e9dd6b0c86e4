# ngx_chat: build, demo and tests.  See README.md.

NGINX_SRC   ?= /usr/share/nginx/src
BUILD       := build
RUN         := run
TEST_DIR    ?= $(CURDIR)/$(BUILD)/test
# make token USER=bob; USER from the environment is the login name, not
# a choice of user for the token
TOKEN_USER  := $(if $(filter command line,$(origin USER)),$(USER),alice)

WARN        := -Wall -Wextra -Werror
UNIT_CFLAGS := -std=gnu99 -O2 -g $(WARN) -Isrc/core -It/unit

MODULE_SRCS := config ngx_chat_module.c $(wildcard src/*.c src/*.h src/core/*.c \
               src/core/*.h)
CORE_SRCS   := $(wildcard src/core/*.c)
UNIT_TESTS  := frame utf8 ids decode json jwt room limit order prom route slot \
               channel deflate ext spread flat

.PHONY: all module tools core-check unit test integration demo up down token bench \
        bench-detail soak abuse deps clean

all: module tools

deps:
	@scripts/deps.sh

module: $(BUILD)/ngx_chat_module.so

tools: $(BUILD)/chat-token $(BUILD)/chatctl

# nginx-dev ships the packaged nginx's build tree and configure flags;
# configuring with the same flags (--with-compat) gives a module that the
# stock /usr/sbin/nginx loads.  Another source tree (NGINX_SRC=...) is
# configured --with-compat plus NGINX_CONFIGURE_ARGS.
$(BUILD)/nginx/objs/Makefile: config
	$(call configure_nginx,$(BUILD)/nginx,$(WARN),)

# $(call configure_nginx,DIR,CC_OPT,LD_OPT): a copy of the nginx tree in
# DIR, configured with the module
define configure_nginx
	rm -rf $(1)
	mkdir -p $(dir $(1))
	cp -r $(NGINX_SRC) $(1)
	cd $(1) && bash -c 'NGX_CONF_FLAGS=(--with-compat); \
	    if [ -f ./conf_flags ]; then . ./conf_flags; fi; ./configure \
	    "$${NGX_CONF_FLAGS[@]}" $(NGINX_CONFIGURE_ARGS) \
	    --with-cc-opt="$(2)" $(if $(3),--with-ld-opt="$(3)") \
	    --add-dynamic-module=$(CURDIR)' \
	    > configure.log 2>&1 \
	    || { tail -30 $(1)/configure.log; exit 1; }
endef

$(BUILD)/ngx_chat_module.so: $(BUILD)/nginx/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules
	@# a new inode: a running nginx keeps the module it has mapped
	cp $(BUILD)/nginx/objs/ngx_chat_module.so $@.tmp && mv -f $@.tmp $@

CHAT_TOKEN_SRCS := cli/chat-token-main.c cli/chat-token.c \
    src/core/ngx_chat_jwt.c src/core/ngx_chat_ids.c src/core/ngx_chat_utf8.c \
    src/core/ngx_chat_flat.c

$(BUILD)/chat-token: $(CHAT_TOKEN_SRCS) src/core/ngx_chat_jwt.h \
    cli/ngx_chat_token.h
	@mkdir -p $(BUILD)
	$(CC) $(UNIT_CFLAGS) -Icli -o $@ $(CHAT_TOKEN_SRCS) -ljwt -ljansson \
	    -lcrypto

# the command-line client (README.md, "Command line: chatctl")
CHATCTL_SRCS := $(filter-out cli/chat-token-main.c,$(wildcard cli/*.c)) \
    src/core/ngx_chat_frame.c src/core/ngx_chat_utf8.c \
    src/core/ngx_chat_json.c src/core/ngx_chat_ids.c src/core/ngx_chat_jwt.c \
    src/core/ngx_chat_flat.c

$(BUILD)/chatctl: $(CHATCTL_SRCS) $(wildcard cli/*.h src/core/*.h)
	@mkdir -p $(BUILD)
	$(CC) $(UNIT_CFLAGS) -Icli -I$(shell pg_config --includedir) -o $@ \
	    $(CHATCTL_SRCS) -lpq -lssl -lcrypto -ljwt -ljansson

# unit tests: the parts that know nothing of nginx
$(BUILD)/unit/test_frame: src/core/ngx_chat_frame.c src/core/ngx_chat_utf8.c
$(BUILD)/unit/test_utf8: src/core/ngx_chat_utf8.c
$(BUILD)/unit/test_ids: src/core/ngx_chat_ids.c
$(BUILD)/unit/test_decode: src/core/ngx_chat_decode.c src/core/ngx_chat_ids.c \
    src/core/ngx_chat_json.c src/core/ngx_chat_scan.c src/core/ngx_chat_flat.c
$(BUILD)/unit/test_json: src/core/ngx_chat_json.c src/core/ngx_chat_ids.c \
    src/core/ngx_chat_decode.c src/core/ngx_chat_scan.c src/core/ngx_chat_flat.c
$(BUILD)/unit/test_jwt: src/core/ngx_chat_jwt.c src/core/ngx_chat_ids.c \
    src/core/ngx_chat_utf8.c src/core/ngx_chat_flat.c
$(BUILD)/unit/test_flat: src/core/ngx_chat_flat.c
$(BUILD)/unit/test_limit: src/core/ngx_chat_limit.c
$(BUILD)/unit/test_order: src/core/ngx_chat_order.c
$(BUILD)/unit/test_prom: src/core/ngx_chat_prom.c
$(BUILD)/unit/test_route: src/core/ngx_chat_route.c
$(BUILD)/unit/test_slot: src/core/ngx_chat_slot.c
$(BUILD)/unit/test_channel: src/core/ngx_chat_channel.c src/core/ngx_chat_ids.c
$(BUILD)/unit/test_spread: src/core/ngx_chat_spread.c
$(BUILD)/unit/test_room: src/core/ngx_chat_room.c src/core/ngx_chat_buf.c \
    src/core/ngx_chat_frame.c src/core/ngx_chat_utf8.c
$(BUILD)/unit/test_deflate: src/core/ngx_chat_deflate.c \
    src/core/ngx_chat_buf.c src/core/ngx_chat_frame.c src/core/ngx_chat_utf8.c
$(BUILD)/unit/test_ext: src/core/ngx_chat_ext.c

$(BUILD)/unit/test_%: t/unit/test_%.c $(wildcard t/unit/*.h src/core/*.h)
	@mkdir -p $(BUILD)/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(filter %.c,$(filter-out $<,$^)) \
	    -ljwt -ljansson -lcrypto -lz

# src/core knows nothing of nginx: each file compiles with no nginx header
# on the include path, and names none
core-check:
	@! grep -n '#include *[<"]ngx_\(config\|core\|http\|event\)' \
	    $(CORE_SRCS) $(wildcard src/core/*.h) \
	    || { echo "src/core includes an nginx header"; exit 1; }
	@for f in $(CORE_SRCS); do \
	    $(CC) $(UNIT_CFLAGS) -fsyntax-only $$f || exit 1; done

unit: core-check fuzz-regress \
    $(addprefix $(BUILD)/unit/test_,$(UNIT_TESTS)) $(BUILD)/chat-token
	@for t in $(filter $(BUILD)/unit/%,$^); do \
	    CHAT_TOKEN=$(BUILD)/chat-token $$t || exit 1; done

# every integration test starts from a fresh PostgreSQL and Redis; the
# files run in CHAT_TEST_JOBS groups (default 2), each with backends of its
# own (t/lib/run-suite)
integration: all
	@CHAT_MODULE=$(CURDIR)/$(BUILD)/ngx_chat_module.so \
	    t/lib/run-suite $(TEST_DIR)

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

demo: deps all
	@scripts/stack.sh demo $(RUN)

up: deps all
	@scripts/stack.sh up $(RUN)

down:
	@scripts/stack.sh down $(RUN)

token: tools
	@test -f $(RUN)/jwt.secret || { echo "start the stack first: make up"; exit 1; }
	@$(BUILD)/chat-token --alg HS256 --key $(RUN)/jwt.secret --sub $(TOKEN_USER)

# ngx_chat side by side with nchan, Socket.IO and the limit program
bench: all
	@bench/compare.sh $(if $(QUICK),--quick)

# ngx_chat alone, in more detail: REST calls, history pages
bench-detail: all
	@bench/run.sh $(if $(QUICK),--quick)

# the soak run (docs/soak.md): SOAK_MINUTES of 10 000 connections chatting,
# with churn and reloads; resources judged flat or growing, and plotted.
# Other settings: SOAK_* in the environment or on the command line
SOAK_MINUTES ?= 30
soak: deps all
	@SOAK_MINUTES=$(SOAK_MINUTES) bench/soak.sh

# attacks against the demo stack, other users' latency and the workers'
# CPU and memory measured meanwhile (bench/abuse/run.sh --help);
# make abuse ABUSE_SCENARIOS="ping bombs" ABUSE_SECONDS=4
abuse: all
	@ABUSE_RUNDIR=$(RUN) bench/abuse/run.sh

# test state kept outside a private checkout goes with the build
clean:
	@if [ -L $(BUILD)/test ]; then rm -rf "$$(readlink -f $(BUILD)/test)"; fi
	rm -rf $(BUILD)

# the chaos suite (README.md, "Chaos"): minutes, not part of make test;
# CHAOS_SECONDS of faults per scenario, CHAOS_SCENARIOS to run only some
CHAOS_SECONDS ?= 20
.PHONY: chaos
chaos: all
	@CHAOS_SECONDS=$(CHAOS_SECONDS) chaos/chaos.pl $(CHAOS_SCENARIOS)

# fuzzing (README.md, "Fuzzing"): fuzz/fuzz_<target>.c, each linked with
# the src/core files it drives.  `make fuzz` runs each with libFuzzer
# (clang) for FUZZ_TIME seconds; `make unit` runs each corpus and the
# reproducers of fuzz/regressions once, built with gcc and fuzz/driver.c.
FUZZ_TARGETS := frame utf8 decode json jwt route scan channel control answer \
                inflate ext flat
FUZZ_TIME    ?= 60
FUZZ_CORE_frame  := frame utf8
FUZZ_CORE_utf8   := utf8
FUZZ_CORE_decode := decode ids json scan utf8 flat
FUZZ_CORE_json   := json ids utf8
FUZZ_CORE_jwt    := jwt ids utf8 flat
FUZZ_CORE_flat   := flat
FUZZ_CORE_route  := route
FUZZ_CORE_scan   := scan flat
FUZZ_CORE_channel := channel ids
FUZZ_CORE_control := channel ids
FUZZ_CORE_answer  :=
FUZZ_CORE_inflate := deflate buf frame utf8
FUZZ_CORE_ext     := ext
# chatctl files a harness drives, besides src/core
FUZZ_CLI_answer   := cli/chatctl_answer.c
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -std=gnu99 -O1 -g $(WARN) -Isrc/core -Ifuzz -Icli
FUZZ_LIBS    := -ljwt -ljansson -lssl -lcrypto -lz
FUZZ_HDRS    := $(wildcard fuzz/*.h src/core/*.h cli/*.h)

define FUZZ_template
$(BUILD)/fuzz/regress/$(1): fuzz/fuzz_$(1).c fuzz/driver.c \
    $(patsubst %,src/core/ngx_chat_%.c,$(FUZZ_CORE_$(1))) $(FUZZ_CLI_$(1)) \
    $(FUZZ_HDRS)
	@mkdir -p $$(@D)
	$(CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -o $$@ $$(filter %.c,$$^) $(FUZZ_LIBS)

$(BUILD)/fuzz/bin/$(1): fuzz/fuzz_$(1).c \
    $(patsubst %,src/core/ngx_chat_%.c,$(FUZZ_CORE_$(1))) $(FUZZ_CLI_$(1)) \
    $(FUZZ_HDRS)
	@mkdir -p $$(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $$@ \
	    $$(filter %.c,$$^) $(FUZZ_LIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_template,$(t))))

.PHONY: fuzz fuzz-regress fuzz-deps

fuzz-regress: $(addprefix $(BUILD)/fuzz/regress/,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    ASAN_OPTIONS=abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(BUILD)/fuzz/regress/$$t fuzz/corpus/$$t fuzz/regressions/$$t \
	    || exit 1; done

fuzz-deps:
	@fuzz/run.sh --deps

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory \
	    $(addprefix $(BUILD)/fuzz/bin/,$(FUZZ_TARGETS))
	@fuzz/run.sh $(BUILD)/fuzz $(FUZZ_TIME) $(FUZZ_TARGETS)

# ---- sanitizers (README.md, "Sanitizers") ------------------------------
# The module and the unit tests built with ASan and UBSan in build/asan/;
# the whole t/ suite against it, nginx started through t/lib/sanitize/nginx
# (the runtime preloaded); any report fails the run.  test-valgrind: the
# usual module, nginx under memcheck, on VALGRIND_TESTS.
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined
ASAN_BUILD := $(BUILD)/asan
SAN_DIR     = $(abspath $(TEST_DIR))/sanitizer
SAN_RUN     = CHAT_TEST_DIR=$(TEST_DIR) CHAT_SANITIZE_DIR=$(SAN_DIR) \
              CHAT_NGINX=$(CURDIR)/t/lib/sanitize/nginx
# timing-only tests that cannot hold under the sanitizers (README.md)
SAN_SKIP   := CHAT_TEST_SANITIZED=1
VALGRIND_TESTS ?= t/00-handshake.t t/01-auth.t t/02-chat.t t/03-bad-input.t \
    t/04-rfc6455.t t/05-fanout.t t/06-join-since.t t/08-redis-restart.t \
    t/09-pg-outage.t t/10-reload.t t/20-history.t t/21-rest-messages.t \
    t/22-read-cursors.t t/28-join-batch.t t/29-json-errors.t \
    t/33-rest-body.t t/63-rev.t t/80-dm.t t/85-edit-delete.t t/90-presence.t \
    t/92-receipts.t t/95-revoke.t t/100-accounts.t t/110-metrics.t \
    t/197-exit-answers.t

.PHONY: asan test-asan test-valgrind

asan: $(ASAN_BUILD)/ngx_chat_module.so

$(ASAN_BUILD)/nginx/objs/Makefile: config
	$(call configure_nginx,$(ASAN_BUILD)/nginx,$(WARN) -g $(SAN_FLAGS),\
	    $(SAN_FLAGS))

$(ASAN_BUILD)/ngx_chat_module.so: $(ASAN_BUILD)/nginx/objs/Makefile \
    $(MODULE_SRCS)
	$(MAKE) -s -C $(ASAN_BUILD)/nginx -f objs/Makefile modules
	cp $(ASAN_BUILD)/nginx/objs/ngx_chat_module.so $@.tmp && mv -f $@.tmp $@

$(ASAN_BUILD)/preload.so: t/lib/sanitize/preload.c
	@mkdir -p $(ASAN_BUILD)
	$(CC) $(WARN) -O2 -shared -fPIC -o $@ $<

test-asan: deps
	@$(MAKE) --no-print-directory all asan $(ASAN_BUILD)/preload.so
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(MAKE) --no-print-directory unit BUILD=$(ASAN_BUILD) \
	    UNIT_CFLAGS='$(UNIT_CFLAGS) $(SAN_FLAGS)'
	@rm -rf $(SAN_DIR) && mkdir -p $(SAN_DIR)
	@t/lib/backends.sh start $(TEST_DIR)
	@$(SAN_RUN) CHAT_SANITIZE=asan $(SAN_SKIP) \
	    CHAT_MODULE=$(CURDIR)/$(ASAN_BUILD)/ngx_chat_module.so \
	    prove -r t/; rc=$$?; t/lib/backends.sh stop $(TEST_DIR); \
	    t/lib/sanitize/scan $(SAN_DIR) || rc=1; exit $$rc

test-valgrind: deps
	@command -v valgrind >/dev/null || scripts/deps.sh --valgrind
	@$(MAKE) --no-print-directory all $(ASAN_BUILD)/preload.so
	@rm -rf $(SAN_DIR) && mkdir -p $(SAN_DIR)
	@t/lib/backends.sh start $(TEST_DIR)
	@$(SAN_RUN) CHAT_SANITIZE=valgrind $(SAN_SKIP) \
	    CHAT_MODULE=$(CURDIR)/$(BUILD)/ngx_chat_module.so \
	    prove $(VALGRIND_TESTS); rc=$$?; t/lib/backends.sh stop $(TEST_DIR); \
	    t/lib/sanitize/scan $(SAN_DIR) || rc=1; exit $$rc
