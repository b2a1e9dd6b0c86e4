# Login attempts are limited per user and per client address across the
# cluster (chat_accounts_login_rate, chat_accounts_address_rate; counted
# in PostgreSQL): two instances share the counts; over a limit the answer
# is 429 rate_limited with Retry-After, even for the right password; an
# attempt refused so is not counted.  Registrations count against the
# address.  The counts live in a database of this test's own, so that
# other tests from 127.0.0.1 are not limited by them.
#
# And the cost of a login: bcrypt at chat_accounts_bcrypt_cost, the same
# for an unknown user as for a wrong password.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use List::Util qw(sum);
use ChatTest;
use ChatTest::Backends qw(scratch_db migrate latest_schema);
use ChatTest::Accounts qw(start_accounts auth new_user);

my $db = scratch_db('chat_acclim');
migrate($db, 1, latest_schema());

my @ng = map {
    start_accounts(workers => 2, pg => $db, accounts_http =>
                   "chat_accounts_login_rate 1r/m burst=2;\n"
                   . "chat_accounts_address_rate 1r/m burst=6;")
} 1 .. 2;
for my $n (@ng) {
    wait_until(sub { api($n, 'GET', '/health')->{status} == 200 }, 10, 0.05);
}

sub is_limited {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is_api_error($r, 429, 'rate_limited', $name);
    like $r->{headers}->header('Retry-After') // '', qr/^[1-9]\d*$/,
        "$name: with Retry-After";
    return $r->{headers}->header('Retry-After') // 0;
}

my $u = new_user('l');
my $pw = "pw-$u";

# attempts so far from this address: 1
is auth($ng[0], 'register', { user => $u, password => $pw })->{status}, 201,
    'registered';

# ---- per user: 3 at once (burst 2), on either instance, then 429
for my $i (0 .. 2) {
    is_api_error(auth($ng[$i % 2], 'login', { user => $u, password => 'nope' }),
                 401, 'unauthenticated', "wrong password $i: 401");
}
my $wait = is_limited(auth($ng[1], 'login', { user => $u, password => $pw }),
                      'the 4th attempt for the user, right password: 429');
cmp_ok $wait, '<=', 60, "Retry-After $wait: within the rate's minute";
is_limited(auth($ng[0], 'login', { user => uc $u, password => $pw }),
           'the same user in other case, on the other instance: 429');

# ---- per address: 7 at once (burst 6); 4 were counted so far
for my $i (0 .. 2) {
    is_api_error(auth($ng[$i % 2], 'login',
                      { user => new_user("x$i"), password => $pw }),
                 401, 'unauthenticated', "another user ($i) from the address: "
                 . '401');
}
is_limited(auth($ng[1], 'login', { user => new_user('y'), password => $pw }),
           'then a user never tried before, from the same address: 429');
is_limited(auth($ng[0], 'register', { user => new_user('r'),
                                      password => $pw }),
           'and a registration from the address: 429');

# the counts are PostgreSQL's: one row per user and per address
is psql($db, "select count(*) from chat_account_attempts "
             . "where key = 'addr:127.0.0.1'"), '1', 'one count per address';
is psql($db, "select count(*) from chat_account_attempts "
             . "where key = 'user:" . lc($u) . "'"), '1', 'one per user';
$_->stop for @ng;

# ---- the cost of a login: unknown user as a wrong password
psql($db, 'delete from chat_account_attempts');
my $slow = start_accounts(workers => 1, pg => $db,
                          accounts_http => 'chat_accounts_bcrypt_cost 10;');
my $k = new_user('t');
is auth($slow, 'register', { user => $k, password => $pw })->{status}, 201,
    'registered with bcrypt cost 10';
like psql($db, "select pass_hash from chat_accounts where user_id = '$k'"),
    qr/^\$2a\$10\$/, 'the hash says cost 10';
my (@known, @unknown);
for my $i (1 .. 5) {
    for my $t ([\@known, $k], [\@unknown, new_user("u$i")]) {
        my $t0 = time;
        my $r = auth($slow, 'login', { user => $t->[1], password => 'nope' });
        push @{ $t->[0] }, time - $t0;
        is $r->{status}, 401, "attempt $i for $t->[1]: 401";
    }
}
my ($mk, $mu) = map { (sort { $a <=> $b } @$_)[2] } \@known, \@unknown;
cmp_ok $mk, '>', 0.01,
    sprintf('a wrong password costs a bcrypt (median %.0f ms)', $mk * 1000);
cmp_ok $mu, '>', $mk / 2,
    sprintf('an unknown user costs about as much (median %.0f ms)',
            $mu * 1000);
$slow->stop;

done_testing;
