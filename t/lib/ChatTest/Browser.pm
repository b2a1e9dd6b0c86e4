package ChatTest::Browser;

# The browser tests: an nginx that serves the web app (web/) beside the
# chat locations, and a node script under t/browser/ driving Chromium with
# playwright-core (installed by scripts/deps.sh into t/browser/node_modules).
# The script prints one JSON line per check; each becomes an `ok` here.

use strict;
use warnings;

use Exporter qw(import);
use Mojo::JSON qw(decode_json encode_json);
use Test::More ();

use ChatTest::Env qw($ROOT);
use ChatTest::Token qw(token secret);

our @EXPORT_OK = qw(browser_test browser_ready web_nginx run_browser
                    have_accounts);

my $DIR = "$ROOT/t/browser";
my $CHROMIUM = $ENV{CHAT_CHROMIUM} || '/usr/bin/chromium';

# Why the browser tests cannot run here, or undef.
sub browser_ready {
    return "no $CHROMIUM (scripts/deps.sh installs chromium)"
        unless -x $CHROMIUM;
    return 'no node (scripts/deps.sh installs nodejs)'
        unless system('node --version >/dev/null 2>&1') == 0;
    return "no $DIR/node_modules/playwright-core (scripts/deps.sh runs npm ci)"
        unless -d "$DIR/node_modules/playwright-core";
    return undef;
}

# Whether this build has accounts (protocol.md section 10): the browser
# tests then sign up and log in through the page.
sub have_accounts {
    return eval { require ChatTest::Accounts; 1 } ? 1 : 0;
}

# An nginx serving web/ at / and the chat locations (%opts as start_nginx;
# `server` is added to), with chat_accounts on when the build has it.
sub web_nginx {
    my (%o) = @_;
    $o{server} = "location / { root $ROOT/web; "
        . "include /etc/nginx/mime.types; }\n" . ($o{server} // '');
    return ChatTest::Accounts::start_accounts(%o) if have_accounts();
    delete $o{accounts_http};
    return ChatTest::Nginx->launch(%o);
}

# Runs t/browser/$script with $cfg (base, api, users, ...) and reports
# each check it makes.  The screenshots go to build/test-artifacts/.
sub run_browser {
    my ($script, $cfg) = @_;
    my %c = (artifacts => "$ROOT/build/test-artifacts",
             accounts => have_accounts() ? Mojo::JSON::true
                                         : Mojo::JSON::false,
             password => 'correct horse ' . int(rand 1e9), %$cfg);
    local $ENV{CHAT_BROWSER} = encode_json(\%c);
    open my $out, '-|', 'node', "$DIR/$script"
        or die "node $script: $!";
    my $done;
    while (my $line = <$out>) {
        chomp $line;
        my $r = eval { decode_json($line) };
        if (!$r) {
            Test::More::diag($line);
        } elsif ($r->{done}) {
            $done = $r;
        } elsif (exists $r->{ok}) {
            Test::More::ok($r->{ok}, $r->{name})
                or Test::More::diag($r->{diag} // '');
        } elsif ($r->{diag}) {
            Test::More::diag($r->{diag});
        }
    }
    close $out;
    Test::More::ok($done && $? == 0, "$script ran to its end")
        or Test::More::diag("exit status $?");
}

# browser_test($script, {nginx options}, {more of the script's config}):
# the whole of a browser test file.  Two users ("<tag>a", "<tag>b") with
# tokens signed by the harness's secret (also given to the script), an
# nginx of web_nginx, the script run, the nginx stopped.  When Chromium,
# node or playwright-core is missing, a failure says which (or a skip with
# CHAT_SKIP_BROWSER=1).
sub browser_test {
    my ($script, $nginx, $extra) = @_;
    if (my $why = browser_ready()) {
        Test::More::plan(skip_all => $why) if $ENV{CHAT_SKIP_BROWSER};
        Test::More::fail("the browser tests can run: $why");
        return;
    }
    my $ng = web_nginx(%{ $nginx // {} });
    my $tag = substr($script, 0, 2) . $$;
    my @names = ("${tag}a", "${tag}b");
    run_browser($script, {
        base   => $ng->url,
        api    => $ng->api_url,
        names  => \@names,
        users  => { map { $_ => token(sub => $_) } @names },
        secret => secret(),
        %{ $extra // {} },
    });
    $ng->stop;
}

1;
