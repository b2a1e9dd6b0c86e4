/*
 * Fixed keys of the JWT fuzzer, made once with openssl(1) for it only:
 * fixed so that the seed tokens signed with them stay valid.  They sign
 * nothing else.
 */

#ifndef _FUZZ_KEYS_H_INCLUDED_
#define _FUZZ_KEYS_H_INCLUDED_


#define FUZZ_RSA_PRIV \
    "-----BEGIN PRIVATE KEY-----\n" \
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC5bkfjWIdJ/tBH\n" \
    "Ou48Ol1U+OEjcLzXabAIAnFTI9gs83lSu779F/+B9dVknKcXyEjCTQJ3S2Hdh8xq\n" \
    "RqaUniRL+Jejv6LtUsttFcG7U8UOIep0tmMlUYno01UrIP/Yzxak7KkZSUpUCD/0\n" \
    "TPxxDXMn3xER3HvVch5ha0Kcxkz5nub2cd0kxYspB20tGilErZm0rOF5k3F8jqx8\n" \
    "YLhL6JiaXJnKjpB2pTV/rQlNyUHxHpoNBX2tHdrOGdGANW+0MprN5E+A/L2wGBM/\n" \
    "kVEsh2oNfxOl3bTjsopw5epWeDiUZmBsj5KKos9sgBG8FWN33+C3gxUnK6gDHf3M\n" \
    "yJj3Vp9vAgMBAAECggEAL5OTEErTk3G0oMIHBB75eWbN5Rj06tQsHTH7P5ivy4DA\n" \
    "vTB8pVV18jNQCBuFZ720pV265z7JIlzIXvA3p2QX7gIfbh0qQXf/x8JQTa8FnUWo\n" \
    "cT+mmpmcJ8epT4KNAmTH65LpJBrA3mSrfBQQpTUNOcqrB4kpoK9CCj7J/Y2HjHf/\n" \
    "6Z/HLo2GG9iydLog/2ieENsfCbOBcp+gNU+UkaF/heB7prwkB1JSMoK2iNk3QG//\n" \
    "jwXgAB6eGADCuDgh3Gv029wZeGkXIQutVjLTY4PABIGLBUNdYah+ooBucX2Ze6bF\n" \
    "VItduHPLmf2eu0Hf/ytPlgzrbFSnCab5kPzVPs9C2QKBgQDiYTjD5nc7E1Tf8TdV\n" \
    "vqEV9CtvS5JRMJYfk4zetytB8EYZh4f9Vf/426lPZucMes+h9YorinyixTXkk4AZ\n" \
    "up+MBM/nOYC+kU6JKbvtSGW+G3VlmNBZy4Tr7HAqycOXj3MePJrCYqmTsiHjl24F\n" \
    "oJKoLQ7uVRjS4TFrDpgPU/swEwKBgQDRsXBSId77L/KNB5DUzz0qOYW5yIJ0vr9P\n" \
    "EYqD7Lx36LTIOYdcxN3o6JJk8Mxvr5gvDUZS8TeDDTdgDXlGIgtAPMlcWcaSvCaS\n" \
    "DLJGB9x/p0rNYs5RC8HDrjRcHp3WmxM+2S5nQxiE0veh2ew1OKxBhI3bzkBFpvSj\n" \
    "jSU46HQWtQKBgAv+OpOmUgq/K2/xx4yzXLVdCjALQOUsPcfOeVgTPCdyI0SW+Y1i\n" \
    "UP1OJdofCX6PwxBBgeBspc25xPEnH1I9oNY6KwmE8l0mNZLusxYPD9TSf5WyUtdv\n" \
    "AMu+6vJZXhNZdi/T5h8GOxWoCkOUci+6Igrm2DOoLnh9lbCmRUgKmvQhAoGAMixT\n" \
    "pMNH+DA7x/TUeabwiqbi0VYhqM9vNPsMeo5tdf9vKi1hrxfHxQ/I33AiamLIdhGm\n" \
    "Dvh6gNfrtQbkSpygtokU4Qz2D2wHipCRI2KEJuMfac9HcGrwvOJ00sncmFnYnAQZ\n" \
    "L0oFltpnuAlNlFpwFOkjjEFobYIKLQv7qQctp7UCgYBPO6DiBRwrA9lwLj09BPm9\n" \
    "W7YdYhUG+DoPOwbPqzCFLJckPZyM+xcq1a7fsKM4s5qUZatLXt+jqWzzxsRKX6Cm\n" \
    "xGNbxr/R9GLrJRM83IUBlQNNsPpLCoLwQj3jSH+VM/WccKsa427ok5vN1GGF04jV\n" \
    "LYVJsFeCX0JvkNuM5YnBhQ==\n" \
    "-----END PRIVATE KEY-----\n" \
    ""

#define FUZZ_RSA_PUB \
    "-----BEGIN PUBLIC KEY-----\n" \
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuW5H41iHSf7QRzruPDpd\n" \
    "VPjhI3C812mwCAJxUyPYLPN5Uru+/Rf/gfXVZJynF8hIwk0Cd0th3YfMakamlJ4k\n" \
    "S/iXo7+i7VLLbRXBu1PFDiHqdLZjJVGJ6NNVKyD/2M8WpOypGUlKVAg/9Ez8cQ1z\n" \
    "J98REdx71XIeYWtCnMZM+Z7m9nHdJMWLKQdtLRopRK2ZtKzheZNxfI6sfGC4S+iY\n" \
    "mlyZyo6QdqU1f60JTclB8R6aDQV9rR3azhnRgDVvtDKazeRPgPy9sBgTP5FRLIdq\n" \
    "DX8Tpd2047KKcOXqVng4lGZgbI+SiqLPbIARvBVjd9/gt4MVJyuoAx39zMiY91af\n" \
    "bwIDAQAB\n" \
    "-----END PUBLIC KEY-----\n" \
    ""

#define FUZZ_EC_PRIV \
    "-----BEGIN PRIVATE KEY-----\n" \
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvifZkB71QsQbto/a\n" \
    "n2FCc4QlJSURCK0VgwBBQRsUeUuhRANCAARcfgApcTdBuBVeh5g19bpuFbpwVXtk\n" \
    "9vQN6ewHFh2cSCALIgoe6SaKvpwgQhFtrHxaV+bqGH0dWYY4/U0P5lDq\n" \
    "-----END PRIVATE KEY-----\n" \
    ""

#define FUZZ_EC_PUB \
    "-----BEGIN PUBLIC KEY-----\n" \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXH4AKXE3QbgVXoeYNfW6bhW6cFV7\n" \
    "ZPb0DensBxYdnEggCyIKHukmir6cIEIRbax8Wlfm6hh9HVmGOP1ND+ZQ6g==\n" \
    "-----END PUBLIC KEY-----\n" \
    ""

#endif /* _FUZZ_KEYS_H_INCLUDED_ */
