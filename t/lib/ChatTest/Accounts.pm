package ChatTest::Accounts;

# What the tests of chat_accounts (t/100-*.t to t/103-*.t) share: an
# nginx with accounts on, its signing key, the /auth/ calls and a look
# inside the tokens they issue.

use strict;
use warnings;

use Exporter qw(import);
use MIME::Base64 qw(decode_base64url);
use Mojo::JSON qw(decode_json);

use ChatTest::Env qw(tmpdir);
use ChatTest::Nginx;
use ChatTest::HTTP qw(api);

our @EXPORT_OK = qw(accounts_key start_accounts auth claims_of new_user);

my $KEY;

# a 48-byte HS256 secret of its own: not the harness's chat_jwt_key
sub accounts_key {
    return $KEY if $KEY;
    $KEY = tmpdir() . '/accounts.key';
    open my $r, '<:raw', '/dev/urandom' or die "urandom: $!";
    read $r, my $bytes, 24;
    close $r;
    open my $f, '>:raw', $KEY or die "$KEY: $!";
    print $f unpack('H*', $bytes), "\n";
    close $f;
    return $KEY;
}

# start_accounts(%launch_opts, accounts_http => 'more http directives'):
# an nginx whose API location has chat_accounts on, signing with
# accounts_key() unless http names another chat_accounts_key; bcrypt cost
# 4 and rates out of the way unless accounts_http sets them
sub start_accounts {
    my (%o) = @_;
    my $more = delete $o{accounts_http} // '';
    my $http = ($o{http} // '') =~ /chat_accounts_key/ ? ''
             : 'chat_accounts_key HS256 ' . accounts_key() . ";\n";
    $http .= "chat_accounts_bcrypt_cost 4;\n"
        unless $more =~ /chat_accounts_bcrypt_cost/;
    $http .= "chat_accounts_login_rate 100000r/s burst=100000;\n"
        unless $more =~ /chat_accounts_login_rate/;
    $http .= "chat_accounts_address_rate 100000r/s burst=100000;\n"
        unless $more =~ /chat_accounts_address_rate/;
    $o{http} = join "\n", grep { defined } $o{http}, $http, $more;
    $o{api_loc} = join "\n", grep { defined } $o{api_loc},
        'chat_accounts on;';
    return ChatTest::Nginx->launch(%o);
}

# auth($nginx, 'login', {json}, %api_opts): POST /auth/<call>, without a
# token unless api_opts give one
sub auth {
    my ($ng, $call, $json, %o) = @_;
    $o{no_auth} = 1 unless $o{token} || $o{auth};
    return api($ng, 'POST', "/auth/$call",
               (defined $json ? (json => $json) : ()), %o);
}

# the claims of a JWT, unchecked
sub claims_of {
    my ($jwt) = @_;
    my (undef, $payload) = split /\./, $jwt // '';
    return eval { decode_json(decode_base64url($payload // '')) } // {};
}

# a user id no other test run has: acc<pid><tag><random>
sub new_user {
    my ($tag) = @_;
    return sprintf 'acc%d%s%04x', $$, $tag // '', int rand 65536;
}

1;
