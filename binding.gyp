{
  "variables": {
    "libtls_asan%": "0",
    "libtls_static%": "0"
  },
  "targets": [
    {
      "target_name": "node_libtls",
      "sources": [
        "native/acceptor.c",
        "native/addon.c",
        "native/backend.c",
        "native/callbacks.c",
        "native/config.c",
        "native/connect.c",
        "native/context.c",
        "native/errors.c",
        "native/fd.c",
        "native/info.c",
        "native/io.c",
        "native/nodeio.c",
        "native/poll.c",
        "native/tcp.c",
        "native/values.c"
      ],
      "cflags": ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE", "LT_LIBTLS_VERSION=\"<!(pkg-config --modversion libtls)\""],
      # "+": before node-gyp's own directories (Node's OpenSSL headers), so that the OpenSSL
      # headers next to tls.h, those of the library its calls reach, win (native/errors.c)
      "include_dirs+": ["<!@(pkg-config --cflags-only-I libtls | sed 's/-I//g')"],
      "conditions": [
        ["libtls_static==0", {
          "libraries": ["<!@(pkg-config --libs libtls)"]
        }],
        ["libtls_static==1", {
          "defines": [
            "LT_STATIC_TLS=1",
            "<!(grep -q LIBRESSL_VERSION_TEXT \"$(pkg-config --variable=includedir libtls)/openssl/opensslv.h\" 2>/dev/null && echo LT_STATIC_LIBRESSL=1 || echo LT_STATIC_OPENSSL=1)"
          ],
          "libraries": [
            "<!(pkg-config --variable=libdir libtls)/libtls.a",
            "<!(pkg-config --variable=libdir libtls)/libssl.a",
            "<!(pkg-config --variable=libdir libtls)/libcrypto.a",
            "-lpthread"
          ],
          "ldflags": ["-Wl,--exclude-libs,ALL"]
        }],
        ["libtls_asan==1", {
          "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-O1"],
          "ldflags": ["-fsanitize=address"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "OTHER_CFLAGS": ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"]
          }
        }]
      ]
    }
  ]
}
