# The directives of accounts under "nginx -t": chat_accounts on needs
# chat_accounts_key (an HS256 secret, or an RS256 or ES256 private key),
# which is also enough as the only verification key; lifetimes, rates and
# the bcrypt cost are checked.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Env qw($NGINX);
use ChatTest::Accounts qw(accounts_key);

my $dir = ChatTest::tmpdir();
my $secret = ChatTest::secret_file();
my $key = accounts_key();
my $pem = make_keys();
my $b = ChatTest::backends();

open my $fh, '>', "$dir/short.key" or die $!;
print $fh "too short\n";
close $fh;

sub nginx_t {
    my ($http, $loc) = @_;
    my $conf = "$dir/acc.conf";
    open my $c, '>', $conf or die $!;
    print $c <<"CONF";
load_module $ChatTest::MODULE;
error_log $dir/acc.log;
pid $dir/acc.pid;
events { worker_connections 64; }
http {
    access_log off;
    chat_redis $b->{redis};
    chat_postgres "$b->{conninfo}";
    $http
    server {
        listen 127.0.0.1:1;
        location /chat/api/ { chat_api; $loc }
    }
}
CONF
    close $c;
    my $out = `$NGINX -t -p $dir -c $conf -e $dir/acc.log 2>&1`;
    return ($? == 0, $out);
}

my @good = (
    [ "chat_jwt_key HS256 $secret;", '', 'accounts off: no key of theirs' ],
    [ "chat_accounts_key HS256 $key;", 'chat_accounts on;',
      'chat_accounts_key as the only key' ],
    [ "chat_accounts_key RS256 $pem->{rsa};", 'chat_accounts on;',
      'chat_accounts_key RS256 with a private key' ],
    [ "chat_accounts_key ES256 $pem->{ec};", 'chat_accounts on;',
      'chat_accounts_key ES256 with a private key' ],
    [ "chat_jwt_key HS256 $secret; chat_accounts_key HS256 $key; "
      . 'chat_accounts on; chat_accounts_access_ttl 5m; '
      . 'chat_accounts_refresh_ttl 7d; chat_accounts_bcrypt_cost 12; '
      . 'chat_accounts_login_rate 10r/m burst=20; '
      . 'chat_accounts_address_rate off;', '',
      'every directive, chat_accounts in the http block' ],
);
for my $g (@good) {
    my ($ok, $out) = nginx_t($g->[0], $g->[1]);
    ok $ok, "$g->[2]: passes nginx -t" or diag $out;
}

my $jwt = "chat_jwt_key HS256 $secret;";
my @bad = (
    [ $jwt, 'chat_accounts on;', qr/chat_accounts_key/,
      'chat_accounts on without chat_accounts_key' ],
    [ "$jwt chat_accounts_key RS256 $key;", '', qr/private key/,
      'chat_accounts_key RS256 with a secret' ],
    [ "$jwt chat_accounts_key ES256 $pem->{ec_pub};", '', qr/private key/,
      'chat_accounts_key ES256 with a public key' ],
    [ "$jwt chat_accounts_key RS256 $pem->{ec};", '', qr/RS256|RSA/i,
      'chat_accounts_key RS256 with an EC key' ],
    [ "$jwt chat_accounts_key HS256 $dir/short.key;", '', qr/32/,
      'a short accounts key' ],
    [ "$jwt chat_accounts_key HS256 $dir/none.key;", '',
      qr/cannot open "chat_accounts_key" file/, 'no key file' ],
    [ "$jwt chat_accounts_key HS256 $key; chat_accounts_key HS256 $key;", '',
      qr/is duplicate/, 'chat_accounts_key twice' ],
    [ $jwt, "chat_accounts_key HS256 $key;", qr/not allowed here/,
      'chat_accounts_key in a location' ],
    [ "$jwt chat_accounts_bcrypt_cost 3;", '', qr/chat_accounts_bcrypt_cost/,
      'bcrypt cost below 4' ],
    [ "$jwt chat_accounts_bcrypt_cost 17;", '', qr/chat_accounts_bcrypt_cost/,
      'bcrypt cost above 16' ],
    [ "$jwt chat_accounts_access_ttl 0;", '', qr/at least 1s/,
      'an access ttl of 0' ],
    [ "$jwt chat_accounts_login_rate 5r/h;", '',
      qr/invalid "chat_accounts_login_rate"/, 'a rate per hour' ],
    [ "$jwt chat_accounts_address_rate 5r/m burst=x;", '',
      qr/invalid "chat_accounts_address_rate"/, 'a bad burst' ],
    [ $jwt, 'chat_accounts maybe;', qr/invalid value "maybe"/,
      'chat_accounts maybe' ],
);
for my $t (@bad) {
    my ($http, $loc, $re, $name) = @$t;
    my ($ok, $out) = nginx_t($http, $loc);
    ok !$ok, "$name: nginx -t fails";
    like $out, $re, "$name: says why" or diag $out;
}

done_testing;
