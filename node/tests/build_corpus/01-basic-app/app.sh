#!/bin/sh
echo "app running $*"
