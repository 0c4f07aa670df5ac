<?php
// bench/runtimes/php-fpm: /static/page.html in the self variant, served by PHP-FPM (the front
// controller every request goes through, as in WordPress, whose loopback requests hit PHP:
// wp-cron.php, the REST API). A file nginx served itself would not need a PHP worker at all,
// and there would be no deadlock: that is the split variant's point.
header('Content-Type: text/html');
readfile(getenv('RIG_STATIC_FILE'));
