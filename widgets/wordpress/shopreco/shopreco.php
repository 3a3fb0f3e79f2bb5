<?php
/**
 * Plugin Name:          shopreco recommendations
 * Description:          Recommendation widgets from your own shopreco server on WooCommerce's product, cart, thank-you and shop pages, with a block and a shortcode for any other place.
 * Version:              1.0.0
 * Requires at least:    6.3
 * Requires PHP:         7.4
 * Author:               shopreco
 * License:              MIT
 * License URI:          https://opensource.org/licenses/MIT
 * Text Domain:          shopreco
 * WC requires at least: 7.0
 *
 * @package shopreco
 */

defined( 'ABSPATH' ) || exit;

define( 'SHOPRECO_VERSION', '1.0.0' );
define( 'SHOPRECO_FILE', __FILE__ );

require_once __DIR__ . '/includes/settings.php';
require_once __DIR__ . '/includes/render.php';
require_once __DIR__ . '/includes/placements.php';

// The embed script, enqueued by each widget (so only pages with one load it): its attributes.
add_filter( 'script_loader_tag', 'shopreco_script_tag', 10, 2 );

// The WooCommerce pages (each can be turned off on the settings page).
add_action( 'woocommerce_after_single_product_summary', 'shopreco_product_bundle', 5 );
add_action( 'woocommerce_after_single_product_summary', 'shopreco_product_also_bought', 18 );
add_action( 'woocommerce_after_cart_table', 'shopreco_cart' );
add_action( 'woocommerce_thankyou', 'shopreco_thank_you' );
add_action( 'woocommerce_before_shop_loop', 'shopreco_shop_home', 5 );

// Any other place: the [shopreco] shortcode and the "shopreco recommendations" block.
add_action( 'init', 'shopreco_register_shortcode_and_block' );

// The settings page: Settings > shopreco.
add_action( 'admin_init', 'shopreco_register_settings' );
add_action( 'admin_menu', 'shopreco_add_settings_page' );
add_filter( 'plugin_action_links_' . plugin_basename( __FILE__ ), 'shopreco_action_links' );
