package ChatTest::HTTP;

# Plain HTTP requests, and the REST API of the module: authenticated
# requests and the check of its error bodies.

use strict;
use warnings;

use Exporter qw(import);
use Mojo::JSON qw(decode_json);
use Mojo::UserAgent;
use Test::More ();

use ChatTest::Token qw(token);

our @EXPORT_OK = qw(http_request http_get api is_api_error);

# http_request(METHOD, $url, headers => {}, json => $body, body => 'raw')
# -> {status, headers (Mojo::Headers), body, json}
sub http_request {
    my ($method, $url, %o) = @_;
    my $ua = Mojo::UserAgent->new;
    $ua->connect_timeout(5);
    $ua->request_timeout($o{timeout} // 10);
    my @args = ($url, $o{headers} // {});
    push @args, json => $o{json} if exists $o{json};
    push @args, $o{body} if exists $o{body};
    my $tx = $ua->build_tx($method => @args);
    $tx = $ua->start($tx);
    my $res = $tx->res;
    my $r = { status => $res->code // 0, headers => $res->headers,
              body => $res->body, error => $tx->error };
    $r->{json} = eval { decode_json($res->body) } if length($res->body // '');
    return $r;
}

sub http_get { http_request('GET', @_) }

# api($nginx, METHOD, '/rooms/x', %o) -> as http_request, against the API
# location.  o: user => 'alice' (a fresh token for that sub; default
# alice), name => display name claim, token => $jwt (as given),
# no_auth => 1 (no Authorization header), auth => 'raw header value',
# json => $body, body => 'raw', headers => {}, timeout => s
sub api {
    my ($ng, $method, $path, %o) = @_;
    my %h = %{ $o{headers} // {} };
    if (defined $o{auth}) {
        $h{Authorization} = $o{auth};
    } elsif (!$o{no_auth}) {
        my $tok = $o{token} // token(sub => $o{user} // 'alice',
                                     defined $o{name} ? (name => $o{name}) : ());
        $h{Authorization} = "Bearer $tok";
    }
    my %req = (headers => \%h);
    $req{json} = $o{json} if exists $o{json};
    $req{body} = $o{body} if exists $o{body};
    $req{timeout} = $o{timeout} if $o{timeout};
    return http_request($method, $ng->api_url . $path, %req);
}

# is_api_error($res, $status, $code, $name): the status and the error body
# {"error":{"code":CODE,"message":TEXT}} (code undef: any string).
sub is_api_error {
    my ($r, $status, $code, $name) = @_;
    my $tb = Test::More->builder;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $j = $r->{json};
    my $e = ref $j eq 'HASH' ? $j->{error} : undef;
    my @why;
    push @why, "status $r->{status}, want $status" if $r->{status} != $status;
    if (ref $e ne 'HASH' || join(',', sort keys %$j) ne 'error') {
        push @why, 'body is not {"error":{...}}: ' . ($r->{body} // '');
    } else {
        push @why, "code " . ($e->{code} // 'undef') . ", want $code"
            if defined $code && ($e->{code} // '') ne $code;
        push @why, 'code is not a string'
            if !defined $code && !(defined $e->{code} && !ref $e->{code}
                                   && length $e->{code});
        push @why, 'no message'
            unless defined $e->{message} && !ref $e->{message}
                   && length $e->{message};
    }
    my $ok = $tb->ok(!@why, $name);
    $tb->diag(join "\n", @why) unless $ok;
    return $ok;
}

1;
