{
  "variables": {
    "libtls_asan%": "0"
  },
  "targets": [
    {
      "target_name": "node_libtls",
      "sources": [
        "native/addon.c",
        "native/config.c",
        "native/context.c",
        "native/poll.c"
      ],
      "cflags": ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "include_dirs": ["<!@(pkg-config --cflags-only-I libtls | sed 's/-I//g')"],
      "libraries": ["<!@(pkg-config --libs libtls)"],
      "conditions": [
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
