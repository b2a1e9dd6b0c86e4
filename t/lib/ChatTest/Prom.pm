package ChatTest::Prom;

# The Prometheus text exposition format (0.0.4), read strictly: every line
# a HELP or TYPE comment or a sample "name{labels} value"; each family's
# TYPE before its samples and its samples in one group; histograms with
# le buckets non-decreasing, ending with +Inf equal to _count, and a _sum.
#
#   my ($m, @errors) = prom_parse($text);
#   prom_value($m, 'ngx_chat_rejected_total', via => 'ws', reason => 'x')
#   my $m = prom_scrape($url);       # problems kept in @ChatTest::Prom::PROBLEMS
#   my $m = prom_scrape_until($url, sub { prom_num($_[0], 'x') == 2 }, 10);

use strict;
use warnings;

use Exporter qw(import);

use ChatTest::HTTP qw(http_get);
use ChatTest::Wait qw(wait_until);

our @EXPORT_OK = qw(prom_parse prom_value prom_num prom_scrape
                    prom_scrape_until);

# what was wrong with the scrapes so far: a test checks it is empty
our @PROBLEMS;

my $NAME = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $VALUE = qr/[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|Inf|NaN)/;

# the labels of '{a="x",b="y\"z"}' as a hash; undef when malformed
sub _labels {
    my $text = shift;
    my %l;
    return \%l if $text eq '';
    $text =~ s/^\{// or return undef;
    while ($text =~ s/^($NAME)="((?:[^"\\\n]|\\[\\"n])*)"//) {
        my ($k, $v) = ($1, $2);
        return undef if exists $l{$k};
        $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
        $l{$k} = $v;
        last unless $text =~ s/^,//;
    }
    return $text eq '}' ? \%l : undef;
}

sub _key {
    my ($name, $l) = @_;
    return $name . '{' . join(',', map { "$_=$l->{$_}" } sort keys %$l) . '}';
}

# (\%metrics, @errors): metrics{key} = value, key "name{k=v,...}" (labels
# sorted); metrics{_type}{family} = type, metrics{_help}{family} = text
sub prom_parse {
    my $text = shift;
    my (%m, @err, %type, %help, %seen_group, $group, %hist);
    my $n = 0;
    push @err, 'the text does not end with a newline'
        unless $text =~ /\n\z/;
    for my $line (split /\n/, $text) {
        $n++;
        if ($line =~ /^# (HELP|TYPE) ($NAME) (.*)$/) {
            my ($what, $fam, $rest) = ($1, $2, $3);
            if ($what eq 'TYPE') {
                push @err, "line $n: second TYPE for $fam" if $type{$fam};
                push @err, "line $n: TYPE of $fam after its samples"
                    if $seen_group{$fam};
                push @err, "line $n: unknown type $rest"
                    unless $rest =~ /^(counter|gauge|histogram|summary|untyped)$/;
                $type{$fam} = $rest;
            } else {
                push @err, "line $n: second HELP for $fam" if $help{$fam};
                $help{$fam} = $rest;
            }
            next;
        }
        next if $line =~ /^#/;
        if ($line !~ /^($NAME)((?:\{.*\})?) ($VALUE)(?: -?[0-9]+)?$/) {
            push @err, "line $n: not a sample: $line";
            next;
        }
        my ($name, $ltext, $value) = ($1, $2, $3);
        my $l = _labels($ltext);
        if (!$l) {
            push @err, "line $n: bad labels: $line";
            next;
        }
        my $fam = $name;
        if ($name =~ /^(.*)_(bucket|sum|count)$/ && ($type{$1} // '') eq 'histogram') {
            $fam = $1;
        }
        if (!$type{$fam}) {
            push @err, "line $n: sample of $fam before its TYPE";
        }
        if (($group // '') ne $fam) {
            push @err, "line $n: samples of $fam are not one group"
                if $seen_group{$fam};
            $seen_group{$fam} = 1;
            $group = $fam;
        }
        if (($type{$fam} // '') eq 'counter' && $fam !~ /_total$/) {
            push @err, "line $n: counter $fam without _total";
        }
        my $key = _key($name, $l);
        push @err, "line $n: duplicate sample $key" if exists $m{$key};
        $m{$key} = $value;
        if (($type{$fam} // '') eq 'histogram') {
            my %rest = %$l;
            my $le = delete $rest{le};
            my $h = $hist{ _key($fam, \%rest) } //= { fam => $fam };
            if ($name eq "${fam}_bucket") {
                push @err, "line $n: bucket without le" unless defined $le;
                push @{ $h->{buckets} }, [$le, $value];
            } elsif ($name eq "${fam}_count") {
                $h->{count} = $value;
            } else {
                $h->{sum} = $value;
            }
        }
    }
    for my $k (sort keys %hist) {
        my $h = $hist{$k};
        my @b = @{ $h->{buckets} // [] };
        if (!@b || $b[-1][0] ne '+Inf') {
            push @err, "$k: the last bucket is not +Inf";
            next;
        }
        for my $i (1 .. $#b) {
            push @err, "$k: le $b[$i][0] not above $b[$i - 1][0]"
                unless $b[$i][0] eq '+Inf' || $b[$i][0] > $b[$i - 1][0];
            push @err, "$k: bucket le=$b[$i][0] below the one before"
                if $b[$i][1] < $b[$i - 1][1];
        }
        push @err, "$k: +Inf ($b[-1][1]) is not _count ("
            . ($h->{count} // 'none') . ')'
            unless defined $h->{count} && $h->{count} == $b[-1][1];
        push @err, "$k: no _sum" unless defined $h->{sum};
    }
    $m{_type} = \%type;
    $m{_help} = \%help;
    return (\%m, @err);
}

# the value of a sample (undef when absent)
sub prom_value {
    my ($m, $name, %l) = @_;
    return $m->{ _key($name, \%l) };
}

# a sample's value, -1 when absent (for comparisons)
sub prom_num { prom_value(@_) // -1 }

# the metrics at $url, parsed; a status other than 200 and the format's
# errors go to @PROBLEMS; _content_type is the answer's Content-Type
sub prom_scrape {
    my $url = shift;
    my $r = http_get($url);
    my ($m, @err) = prom_parse($r->{body} // '');
    unshift @err, "$url: status $r->{status}" if $r->{status} != 200;
    push @PROBLEMS, @err;
    $m->{_content_type} = $r->{headers} ? $r->{headers}->content_type : '';
    return $m;
}

# scrapes until $cond->(metrics) holds or $timeout (10 s) passes; returns
# the last metrics
sub prom_scrape_until {
    my ($url, $cond, $timeout) = @_;
    my $m;
    wait_until(sub { $m = prom_scrape($url); $cond->($m) },
               $timeout // 10, 0.05);
    return $m;
}

1;
