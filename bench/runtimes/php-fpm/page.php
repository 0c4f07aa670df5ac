<?php
// bench/runtimes/php-fpm: the self-calling page. Works 200 ms (usleep), then fetches the
// static page from RIG_STATIC_URL with curl -- a new handle per call (a new connection), no
// CURLOPT_TIMEOUT (libcurl's default: none; its connect timeout defaults to 300 s) -- and
// answers with what it got. Appends "start"/"done" lines to RIG_PAGES_LOG so the rig can count
// the pages PHP-FPM ran, those whose client had gone included.
$log = getenv('RIG_PAGES_LOG');
file_put_contents($log, sprintf("start %d %.3f\n", getmypid(), microtime(true)), FILE_APPEND);
usleep(200000);
$ch = curl_init(getenv('RIG_STATIC_URL'));
curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
$body = curl_exec($ch);
$status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
$err = curl_error($ch);
curl_close($ch);
file_put_contents($log, sprintf("done %d %.3f %d %s\n", getmypid(), microtime(true), $status, $err), FILE_APPEND);
header('Content-Type: text/plain');
printf("page: self-call status %d, %d characters%s\n", $status, $body === false ? 0 : strlen($body), $err ? " ($err)" : "");
