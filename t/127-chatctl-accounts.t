# chatctl with the gateway's accounts (chat_accounts on, protocol.md
# section 10): register (a taken id is exit 6), login stores the tokens, send and tail work with them, an
# expired access token is refreshed (the stored refresh token rotates),
# a wrong password is exit 3, logout revokes and forgets the tokens.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(decode_json);
use ChatTest;
use ChatTest::Ctl qw(ctl ctl_bin);
use ChatTest::Env qw(tmpdir);

plan skip_all => 'build/chatctl is not built' unless -x ctl_bin();
plan skip_all => 'no accounts in this tree (ChatTest::Accounts)'
    unless eval { require ChatTest::Accounts; 1 };

my $ng = ChatTest::Accounts::start_accounts(workers => 2);
my $pg = backends()->{conninfo};
my $u = ChatTest::Accounts::new_user('ctl');
my $pw = "pw $u secret";
my $room = rand_room('acct');
my $cf = tmpdir() . "/ctl-accounts-$$.conf";
my %e = (CHATCTL_CONFIG => $cf);

sub slurp { open my $h, '<', shift or return ''; local $/; <$h> // '' }
sub stored { my ($k) = @_; slurp($cf) =~ /^\Q$k\E = (.*)$/m ? $1 : undef }

my $r = ctl($ng, env => \%e, stdin => "$pw\n", 'register', $u, '--name',
            'Ann Example');
is $r->{rc}, 0, 'chatctl register USER < password: exit 0' or diag $r->{err};
like $r->{out}, qr/registered \Q$u\E/, 'says so';
$r = ctl($ng, env => \%e, stdin => "$pw\n", 'register', $u);
is $r->{rc}, 6, 'the same id again: exit 6';
like $r->{err}, qr/^chatctl: conflict: /m, 'conflict';

$r = ctl($ng, env => \%e, stdin => "wrong password\n", 'login', $u);
is $r->{rc}, 3, 'login with a wrong password: exit 3';
like $r->{err}, qr/^chatctl: unauthenticated: /m, 'unauthenticated';

$r = ctl($ng, env => \%e, stdin => "$pw\n", 'login', $u);
is $r->{rc}, 0, 'chatctl login USER < password: exit 0' or diag $r->{err};
ok stored('token') && stored('refresh_token'), 'the tokens are stored';
is((stat $cf)[2] & 0777, 0600, 'in a file of mode 0600');

$r = ctl($ng, env => \%e, 'send', $room, 'sent after login');
is $r->{rc}, 0, 'send with the stored token: exit 0' or diag $r->{err};
is psql($pg, "select sender from messages where room_id = '$room'"), $u,
    'stored as the user';

$r = ctl($ng, env => \%e, 'tail', $room, '--json', '--since-rev', '0',
         '--count', '2');
is $r->{rc}, 0, 'tail (WebSocket) with it: exit 0' or diag $r->{err};
ok scalar(grep { /"body":"sent after login"/ } @{ $r->{lines} }),
    'replays the message';

# the access token has expired (as far as the file says): refreshed
my ($access, $refresh) = (stored('token'), stored('refresh_token'));
my $c = slurp($cf);
$c =~ s/^expires_at = .*$/expires_at = 1/m;
open my $h, '>', $cf or die;
print $h $c;
close $h;
$r = ctl($ng, env => \%e, 'send', $room, 'after refresh');
is $r->{rc}, 0, 'send with an expired access token: exit 0'
    or diag $r->{err};
isnt stored('token'), $access, 'a new access token is stored';
isnt stored('refresh_token'), $refresh, 'the refresh token rotated';
cmp_ok stored('expires_at'), '>', time, 'with its expiry';

$r = ctl($ng, env => \%e, 'logout');
is $r->{rc}, 0, 'logout: exit 0' or diag $r->{err};
ok !defined stored('token'), 'the tokens are gone from the file';
$r = ctl($ng, env => \%e, 'rooms');
is $r->{rc}, 3, 'then: exit 3';
is ctl($ng, jwt => $access, 'rooms')->{rc}, 3,
    'the old access token is refused too';

done_testing;
