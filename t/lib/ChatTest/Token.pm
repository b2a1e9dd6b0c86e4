package ChatTest::Token;

# JSON Web Tokens: the HS256 secret every nginx of this process trusts,
# tokens signed with it (or RS256 / ES256 keys, or deliberately wrong),
# and the chat-token tool.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use Exporter qw(import);
use MIME::Base64 qw(encode_base64url);
use Mojo::JSON qw(encode_json);

use ChatTest::Env qw($ROOT tmpdir sh quote);

our @EXPORT_OK = qw(
    token sign_token make_keys secret_file secret chat_token_tool b64u
    openssl_sign
);

my $SECRET_FILE;    # the HS256 secret shared by every nginx of this process
my $SECRET;

sub secret_file {
    return $SECRET_FILE if $SECRET_FILE;
    # 40 printable bytes, no trailing newline: the same secret whether or
    # not a reader strips a newline, and no NUL byte for C string handling
    $SECRET = '';
    open my $r, '<:raw', '/dev/urandom' or die "urandom: $!";
    read $r, my $bytes, 20;
    close $r;
    $SECRET = unpack 'H*', $bytes;
    $SECRET_FILE = tmpdir() . '/jwt.secret';
    open my $f, '>:raw', $SECRET_FILE or die "$SECRET_FILE: $!";
    print $f $SECRET;
    close $f;
    chmod 0644, $SECRET_FILE;
    return $SECRET_FILE;
}

sub secret { secret_file(); $SECRET }

sub b64u { encode_base64url($_[0]) }

# token(sub => 'alice', %claims_and_options)
# claims: sub exp nbf iat iss aud jti name roles, claims => {extra}
#   exp => undef or no_exp => 1: no exp; ttl => seconds (default 3600)
#   no_sub => 1: no sub; no_iat => 1
# options: alg => header and signing alg (HS256 default; none; RS256/ES256
#   need key => private PEM), header_alg => alg written in the header only,
#   secret => HMAC secret (default: the harness secret),
#   bad_sig => 1 (flip the signature), header => {extra header fields}
sub token {
    my %a = @_;
    my $now = int time;
    my %c;
    $c{sub} = $a{sub} // 'alice' unless $a{no_sub};
    if ($a{no_exp} || (exists $a{exp} && !defined $a{exp})) {
        # none
    } elsif (defined $a{exp}) {
        $c{exp} = int $a{exp};
    } else {
        $c{exp} = $now + ($a{ttl} // 3600);
    }
    $c{iat} = defined $a{iat} ? int $a{iat} : $now unless $a{no_iat};
    for my $k (qw(nbf)) { $c{$k} = int $a{$k} if defined $a{$k} }
    for my $k (qw(iss aud jti name roles)) { $c{$k} = $a{$k} if defined $a{$k} }
    %c = (%c, %{ $a{claims} }) if $a{claims};
    return sign_token(\%c, %a);
}

sub sign_token {
    my ($claims, %a) = @_;
    my $alg = $a{alg} // 'HS256';
    my %h = (alg => $a{header_alg} // $alg, typ => 'JWT',
             %{ $a{header} // {} });
    my $input = b64u(encode_json(\%h)) . '.' . b64u(encode_json($claims));
    my $sig;
    if ($alg eq 'none') {
        $sig = '';
    } elsif ($alg eq 'HS256') {
        $sig = hmac_sha256($input, $a{secret} // secret());
    } elsif ($alg eq 'RS256' || $alg eq 'ES256') {
        $sig = openssl_sign($input, $a{key} // die("$alg needs key"), $alg);
    } else {
        die "token: unknown alg $alg";
    }
    if ($a{bad_sig}) {
        $sig = length $sig ? $sig : 'x';
        substr($sig, 0, 1) = chr(ord(substr $sig, 0, 1) ^ 0x55);
    }
    return $input . '.' . b64u($sig);
}

sub openssl_sign {
    my ($input, $key, $alg) = @_;
    my $in = tmpdir() . "/sign-$$.in";
    open my $f, '>:raw', $in or die $!;
    print $f $input;
    close $f;
    my $der = `openssl dgst -sha256 -sign @{[quote($key)]} -binary @{[quote($in)]}`;
    die "openssl dgst failed" if $? || !length $der;
    unlink $in;
    return $der if $alg eq 'RS256';
    # ECDSA: DER SEQUENCE { INTEGER r, INTEGER s } -> r || s (32 bytes each)
    my $p = 2;
    $p++ if ord(substr $der, 1, 1) & 0x80;
    my @int;
    for (1 .. 2) {
        die "bad ECDSA DER" unless substr($der, $p, 1) eq "\x02";
        my $len = ord substr $der, $p + 1, 1;
        my $v = substr $der, $p + 2, $len;
        $v =~ s/^\x00+//;
        push @int, ("\x00" x (32 - length $v)) . $v;
        $p += 2 + $len;
    }
    return join '', @int;
}

sub chat_token_tool {
    my $t = $ENV{CHAT_TOKEN} || "$ROOT/build/chat-token";
    return -x $t ? $t : undef;
}

# make_keys() -> {rsa => priv.pem, rsa_pub => pub.pem, ec => ..., ec_pub => ...}
sub make_keys {
    my $dir = tmpdir() . '/keys';
    my %keys = map { $_ => "$dir/$_.pem" } qw(rsa rsa_pub ec ec_pub);
    return \%keys if -f $keys{ec_pub};
    mkdir $dir;
    chmod 0755, $dir;
    for my $k (['RSA', 'rsa_keygen_bits:2048', 'rsa'],
               ['EC', 'ec_paramgen_curve:P-256', 'ec']) {
        my ($alg, $opt, $name) = @$k;
        sh('openssl', 'genpkey', '-algorithm', $alg, '-pkeyopt', $opt,
           '-out', $keys{$name});
        sh('openssl', 'pkey', '-in', $keys{$name}, '-pubout', '-out',
           $keys{"${name}_pub"});
    }
    chmod 0644, glob "$dir/*.pem";
    return \%keys;
}

1;
