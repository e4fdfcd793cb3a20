#!/bin/sh
# The same test against npool-httpd-malloc (connection and scratch pools on malloc).
HTTPD=./npool-httpd-malloc
export HTTPD
exec /bin/sh "${srcdir:-.}/test-httpd.sh"
