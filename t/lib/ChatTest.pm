package ChatTest;

# The integration test harness of ngx_chat: the module the .t files use.
# It gathers the functions of the harness's parts (t/lib/ChatTest/*.pm)
# under one name and stops what a test started when it ends.
#
#   ChatTest::Env       paths, temporary directory, shell, ports, processes
#   ChatTest::Wait      polling a condition, running the event loop
#   ChatTest::Token     the HS256 secret, JWTs, keys, the chat-token tool
#   ChatTest::Backends  the shared PostgreSQL and Redis, psql
#   ChatTest::Redis     a test's own Redis
#   ChatTest::PG        a test's own PostgreSQL
#   ChatTest::Nginx     an nginx with the module
#   ChatTest::WS        the WebSocket chat client (Mojo)
#   ChatTest::Raw       the raw WebSocket client (hand-built frames)
#   ChatTest::HTTP      HTTP requests, the REST API
#
# Backends: the shared PostgreSQL and Redis of a `make test` run are started
# by t/lib/backends.sh; CHAT_TEST_DIR names their directory (DIR/env has the
# ports).  Without CHAT_TEST_DIR, the first use starts a private set for this
# .t file (same ports) and END stops it.
#
# Environment:
#   CHAT_TEST_DIR           shared backends directory (see above)
#   CHAT_MODULE             the module (default <repo>/build/ngx_chat_module.so)
#   CHAT_TOKEN              the chat-token tool (default <repo>/build/chat-token)
#   CHAT_NGINX              nginx binary (default /usr/sbin/nginx)
#   CHAT_HARNESS_SELFTEST   1: start a plain nginx without the module and the
#                           chat directives (to test this harness itself)
#   CHAT_TEST_KEEP          1: keep the temporary directories
#   CHAT_TEST_VERBOSE       1: diag the nginx error logs at the end

use strict;
use warnings;

use Exporter qw(import);
use Test::More ();

use ChatTest::Env qw($ROOT $SELFTEST $NGINX $MODULE $BACKENDS_SH
                     repo_root selftest world_enterable tmpdir free_port
                     port_open pid_alive children_of sh quote pid_rss_kb
                     pid_fds);
use ChatTest::Wait qw(wait_until run_loop);
use ChatTest::Token qw(token sign_token make_keys secret_file secret
                       chat_token_tool b64u openssl_sign);
use ChatTest::Backends qw(backends psql stop_own);
use ChatTest::Redis;
use ChatTest::PG;
use ChatTest::Nginx;
use ChatTest::WS qw(ws_connect login next_id worker_of spread_clients
                    close_all);
use ChatTest::Raw qw(raw_connect $WS_GUID);
use ChatTest::HTTP qw(http_request http_get api is_api_error);

our @EXPORT = qw(
    start_nginx start_redis start_pg backends
    token sign_token make_keys secret_file chat_token_tool
    ws_connect login raw_connect http_request http_get
    rand_room free_port wait_until run_loop next_id pid_rss_kb pid_fds
    repo_root selftest
    api psql worker_of spread_clients is_api_error close_all
);

my $PID = $$;

# start_nginx(%opts): see ChatTest::Nginx::launch
sub start_nginx { ChatTest::Nginx->launch(@_) }

# A test's own Redis: ->stop, ->start, ->restart, ->port, ->addr, ->running
sub start_redis { ChatTest::Redis->launch(@_) }

# A test's own PostgreSQL (fresh cluster, migrated): ->stop, ->start,
# ->port, ->conninfo
sub start_pg { ChatTest::PG->launch(@_) }

sub rand_room {
    my $prefix = shift // 'room';
    return sprintf '%s-%s-%04x%04x', $prefix, $$, int(rand 65536),
        int(rand 65536);
}

sub cleanup {
    return unless $$ == $PID;
    ChatTest::Nginx->stop_all(!Test::More->builder->is_passing
                              || $ENV{CHAT_TEST_VERBOSE});
    stop_own();
}

END {
    my $rc = $?;
    cleanup();
    $? = $rc;
}

1;
