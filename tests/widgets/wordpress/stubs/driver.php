<?php
/**
 * Renders the shopreco plugin against the stubs: php driver.php COMMAND [ARG...] < state.json
 *
 * It loads wp.php and the plugin (SHOPRECO_PLUGIN, else the repository's
 * widgets/wordpress/shopreco), fires plugins_loaded and init, then admin_menu and admin_init
 * (state "admin": true) or wp_enqueue_scripts, runs COMMAND, then wp_footer on the front end,
 * and prints one JSON object: html (what COMMAND printed), footer, boot (anything printed
 * while loading), options, errors (settings errors), died (a wp_die message), and what the
 * plugin registered (hooks, shortcodes, blocks, pages, settings). Any PHP warning or notice
 * is fatal.
 *
 * Commands: hook NAME [ARG...] | shortcode TEXT | block JSON_ATTRIBUTES | admin_page SLUG
 * (as wp-admin does: the page's capability, then its callback) | options.php (as
 * wp-admin/options.php does with $_POST: nonce, capability, update_option per setting of the
 * form's group) | filter NAME JSON_VALUE | call FUNCTION [ARG...] (what it prints, then its
 * return value: a string as it is, null as nothing, anything else as JSON) | uninstall | load.
 */

set_error_handler(
	function ( $severity, $message, $file, $line ) {
		throw new ErrorException( $message, 0, $severity, $file, $line );
	}
);
error_reporting( E_ALL );

require __DIR__ . '/wp.php';

$state = json_decode( (string) stream_get_contents( STDIN ), true );
wp_stub_load( is_array( $state ) ? $state : array() );
$plugin  = getenv( 'SHOPRECO_PLUGIN' ) ? getenv( 'SHOPRECO_PLUGIN' ) : dirname( __DIR__, 4 ) . '/widgets/wordpress/shopreco';
$command = $argv[1] ?? 'load';
$args    = array_map(
	function ( $arg ) {
		return ctype_digit( $arg ) ? (int) $arg : $arg;
	},
	array_slice( $argv, 2 )
);

/** What $work prints. */
function wp_stub_capture( callable $work ) {
	ob_start();
	try {
		$work();
	} finally {
		$printed = ob_get_clean();
	}
	return $printed;
}

$result = array(
	'html'   => '',
	'footer' => '',
	'died'   => null,
);
try {
	$result['boot'] = wp_stub_capture(
		function () use ( $plugin ) {
			require $plugin . '/shopreco.php';
			do_action( 'plugins_loaded' );
			do_action( 'init' );
			if ( is_admin() ) {
				do_action( 'admin_menu' );
				do_action( 'admin_init' );
			} else {
				do_action( 'wp_enqueue_scripts' );
			}
		}
	);
	$result['html'] = wp_stub_capture(
		function () use ( $command, $args, $plugin ) {
			wp_stub_command( $command, $args, $plugin );
		}
	);
	if ( ! is_admin() ) {
		$result['footer'] = wp_stub_capture(
			function () {
				do_action( 'wp_footer' );
			}
		);
	}
} catch ( WP_Stub_Die $died ) {
	$result['died'] = $died->getMessage();
}

$hooks = array();
foreach ( WP_Stub::$filters as $tag => $by_priority ) {
	foreach ( $by_priority as $priority => $entries ) {
		foreach ( $entries as $entry ) {
			if ( is_string( $entry[0] ) && 0 === strpos( $entry[0], 'shopreco_' ) ) {
				$hooks[ $tag ][] = array( $entry[0], $priority, $entry[1] );
			}
		}
	}
}
$result += array(
	'options'    => (object) WP_Stub::$options,
	'errors'     => WP_Stub::$errors,
	'hooks'      => (object) $hooks,
	'shortcodes' => array_keys( WP_Stub::$shortcodes ),
	'blocks'     => array_keys( WP_Stub::$blocks ),
	'pages'      => (object) array_map(
		function ( $page ) {
			return array(
				'title'      => $page[0],
				'capability' => $page[1],
			);
		},
		WP_Stub::$pages
	),
	'settings'   => (object) array_map(
		function ( $setting ) {
			return $setting[0];
		},
		WP_Stub::$settings
	),
);
echo json_encode( $result, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRETTY_PRINT ), "\n";

/** Runs one command (see the file's comment). */
function wp_stub_command( $command, array $args, $plugin ) {
	switch ( $command ) {
		case 'load':
			return;
		case 'hook':
			do_action( ...$args );
			return;
		case 'shortcode':
			echo do_shortcode( (string) $args[0] );
			return;
		case 'block':
			echo wp_stub_render_block( 'shopreco/recommendations', json_decode( (string) $args[0], true ) );
			return;
		case 'admin_page':
			$page = WP_Stub::$pages[ $args[0] ] ?? null;
			if ( ! $page || ! current_user_can( $page[1] ) ) {
				wp_die( 'Sorry, you are not allowed to access this page.' );
			}
			$_GET['page'] = $args[0];
			call_user_func( $page[2] );
			return;
		case 'options.php':
			$group = isset( $_POST['option_page'] ) ? wp_unslash( $_POST['option_page'] ) : '';
			check_admin_referer( $group . '-options' );
			if ( ! current_user_can( apply_filters( "option_page_capability_{$group}", 'manage_options' ) ) ) {
				wp_die( 'Sorry, you are not allowed to manage options for this site.' );
			}
			foreach ( WP_Stub::$settings as $name => $setting ) {
				if ( $setting[0] === $group ) {
					$value = $_POST[ $name ] ?? null;
					update_option( $name, wp_unslash( is_array( $value ) ? $value : trim( (string) $value ) ) );
				}
			}
			return;
		case 'filter':
			echo json_encode( apply_filters( $args[0], json_decode( (string) $args[1], true ) ) );
			return;
		case 'call':
			$returned = call_user_func_array( array_shift( $args ), $args );
			echo ( is_string( $returned ) || null === $returned ) ? $returned : json_encode( $returned );
			return;
		case 'uninstall':
			define( 'WP_UNINSTALL_PLUGIN', 'shopreco/shopreco.php' );
			require $plugin . '/uninstall.php';
			return;
	}
	throw new InvalidArgumentException( "unknown command $command" );
}
