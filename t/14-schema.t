# The module refuses a database schema version it does not know, says so
# once per connection in the error log, and starts working as soon as the
# schema is right, without a restart.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $pg = start_pg();
$pg->psql('insert into chat_schema_version (version) values (99)');
my $super = 'host=127.0.0.1 port=' . $pg->port . ' dbname=chat user=postgres';
ChatTest::psql($super, 'alter system set log_connections = on');
ChatTest::psql($super, 'select pg_reload_conf()');

my $ng = start_nginx(pg => $pg->conninfo, workers => 1,
                     http => 'chat_postgres_pool 2;');
my $health = $ng->api_url . '/health';

ok wait_until(sub { $ng->error_log =~ /schema is version 99/ }, 10),
    'the error log says which version it found';
# the newest migration in sql/ is the version the module works with
my ($need) = sort { $b <=> $a }
             map { m{/0*(\d+)_[^/]*\.sql$} ? $1 : () }
             glob(ChatTest::repo_root() . '/sql/*.sql');
like $ng->error_log, qr/works with version $need only/,
    "and which version it needs ($need)";

my $h = http_get($health);
is $h->{status}, 503, 'health: 503 while the schema is refused';
is $h->{json}{postgres}, 'down', 'health: postgres down';

my $c = login($ng, 'alice');
my $r = $c->request({ type => 'send', room => rand_room('schema'),
                      body => 'refused' });
is $r->{code}, 'unavailable', 'a send gets unavailable';

# a few reconnect rounds later the alert is still one line per connection
# (the later refusals are noted now and then: PostgreSQL's log counts the
# attempts)
my $attempts = sub {
    open my $f, '<', "$pg->{dir}/pg/postgres.log" or return 0;
    my $name = $ng->pg_name;
    return scalar grep { /connection authorized: .*application_name=$name/ }
        <$f>;
};
my $before = $attempts->();
ok wait_until(sub { $attempts->() >= $before + 6 }, 15, 0.1),
    'the module keeps trying, with backoff';
my $alerts = () = $ng->error_log =~ /schema is version 99/g;
cmp_ok $alerts, '<=', 2, "the refusal is an alert once per connection"
    . " ($alerts)";

$pg->psql('delete from chat_schema_version where version = 99');
ok wait_until(sub { http_get($health)->{status} == 200 }, 15),
    'health recovers once the schema is right';
$r = $c->request({ type => 'send', room => rand_room('schema'),
                   body => 'stored' });
is $r->{type}, 'ok', 'and sends are stored again';

$c->close;
$ng->stop;
done_testing;
